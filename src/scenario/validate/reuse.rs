//! Steps that `use` a reusable step: the reusable step merged with what the use site
//! writes, its parameters filled in, and where each part of the result was written.

use super::validator::{Origin, Validator};
use crate::scenario::error::did_you_mean;
use crate::scenario::library::StepLibrary;
use crate::scenario::model::{Expect, Spanned, Step};
use crate::scenario::template::Vars;
use indexmap::IndexMap;
use std::sync::Arc;

/// A scenario step ready to validate: as written, or merged with the step it uses.
pub(super) struct Expanded {
    pub step: Spanned<Step>,
    pub origin: Option<Origin>,
    pub params: Vars,
}

impl Validator {
    /// Builds the step to validate; `None` (with errors) when the `use:` cannot be resolved.
    pub(super) fn expand(
        &mut self,
        site: &Spanned<Step>,
        library: &StepLibrary,
    ) -> Option<Expanded> {
        let Some(uses) = &site.value.uses else {
            if let Some((key, value)) = site.value.with.first() {
                self.error(
                    value,
                    format!("`with: {{ {key}: ... }}` fills the parameters of a reusable step, but this step has no `use:`"),
                    None,
                );
            }
            if let Some(without) = site
                .value
                .expect
                .as_ref()
                .and_then(|e| e.value.without.first())
            {
                self.error(
                    without,
                    "`without` drops checks of a reusable step, but this step has no `use:`".into(),
                    None,
                );
            }
            return Some(Expanded {
                step: site.clone(),
                origin: None,
                params: Vars::new(),
            });
        };
        let name = uses.value.trim();
        let Some(used) = library.get(name) else {
            let help = did_you_mean(name, library.names()).or_else(|| {
                library
                    .is_empty()
                    .then(|| "reusable steps are the files of a `steps/` folder beside the scenario folders".to_owned())
            });
            let known: Vec<&str> = library.names().collect();
            self.error(
                uses,
                format!(
                    "no reusable step named `{name}` (known: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
                help,
            );
            return None;
        };
        let site_loc = self.loc(uses);

        let mut params = Vars::new();
        let mut complete = true;
        for (key, value) in &site.value.with {
            if !used.params.contains_key(key) {
                let declared: Vec<&str> = used.params.keys().map(String::as_str).collect();
                let help = did_you_mean(key, declared.iter().copied());
                self.error(
                    value,
                    format!(
                        "`{name}` has no parameter `{key}` (its parameters: {})",
                        if declared.is_empty() {
                            "none".to_owned()
                        } else {
                            declared.join(", ")
                        }
                    ),
                    help,
                );
                complete = false;
            }
        }
        for (key, spec) in &used.params {
            let value = site.value.with.get(key).or(spec.default.as_ref());
            match value {
                Some(v) if !v.value.0.contains(['\r', '\n']) => {
                    params.insert(key.clone(), v.value.0.clone());
                }
                Some(v) => {
                    self.error(
                        v,
                        format!("the value of parameter `{key}` contains a line break"),
                        None,
                    );
                    complete = false;
                }
                None => {
                    self.error_at(
                        site_loc.clone(),
                        format!(
                            "`{name}` needs the parameter `{key}`: add `with: {{ {key}: ... }}`"
                        ),
                        spec.about.clone(),
                    );
                    complete = false;
                }
            }
        }

        let merged = self.merge(used.step.value.clone(), site.value.clone());
        if !complete {
            return None;
        }
        Some(Expanded {
            step: Spanned::new(merged, site.referenced, site.defined),
            origin: Some(Origin {
                source_id: used.step.referenced.source_id(),
                file: Arc::clone(&used.file),
                source: Arc::clone(&used.source),
                site: site_loc,
            }),
            params,
        })
    }

    /// The reusable step with the use site's keys over it: a key written at the use site
    /// replaces the reusable step's; maps (request `headers`, `capture`, and in `expect`
    /// the header checks and `requirement_for`) are merged entry by entry.
    fn merge(&mut self, base: Step, over: Step) -> Step {
        let expect = match (base.expect, over.expect) {
            (Some(b), Some(o)) => Some(Spanned::new(
                self.merge_expect(b.value, o.value),
                o.referenced,
                o.defined,
            )),
            (b, o) => o.or(b),
        };
        Step {
            uses: None,
            with: IndexMap::new(),
            name: over.name.or(base.name),
            packet: over.packet.or(base.packet),
            method: over.method.or(base.method),
            url: over.url.or(base.url),
            headers: merge_map(base.headers, over.headers),
            omit: if over.omit.is_empty() {
                base.omit
            } else {
                over.omit
            },
            range: over.range.or(base.range),
            total: over.total.or(base.total),
            seed: over.seed.or(base.seed),
            body: over.body.or(base.body),
            body_file: over.body_file.or(base.body_file),
            node: over.node.or(base.node),
            stop_node: over.stop_node.or(base.stop_node),
            connection: over.connection.or(base.connection),
            raw: over.raw.or(base.raw),
            fault: over.fault.or(base.fault),
            generate: over.generate.or(base.generate),
            timeout: over.timeout.or(base.timeout),
            delay: over.delay.or(base.delay),
            requires: if over.requires.is_empty() {
                base.requires
            } else {
                over.requires
            },
            requirement: over.requirement.or(base.requirement),
            expect,
            capture: merge_map(base.capture, over.capture),
        }
    }

    /// Checks written at the use site replace the reusable step's; `without` drops some.
    fn merge_expect(&mut self, base: Expect, over: Expect) -> Expect {
        let mut merged = Expect {
            status: over.status.or(base.status),
            headers: merge_map(base.headers, over.headers),
            error: over.error.or(base.error),
            body: over.body.or(base.body),
            response: over.response.or(base.response),
            connection: over.connection.or(base.connection),
            version: over.version.or(base.version),
            format: over.format.or(base.format),
            readings: if over.readings.is_empty() {
                base.readings
            } else {
                over.readings
            },
            requirement_for: merge_map(base.requirement_for, over.requirement_for),
            without: Vec::new(),
        };
        for key in &over.without {
            let check = key.value.trim();
            let dropped = match check.to_ascii_lowercase().as_str() {
                "status" => merged.status.take().is_some(),
                "error" => merged.error.take().is_some(),
                "body" => merged.body.take().is_some(),
                "response" => merged.response.take().is_some(),
                "connection" => merged.connection.take().is_some(),
                "version" => merged.version.take().is_some(),
                "format" => merged.format.take().is_some(),
                "readings" => !std::mem::take(&mut merged.readings).is_empty(),
                _ => remove_key(&mut merged.headers, check).is_some(),
            };
            if dropped {
                remove_key(&mut merged.requirement_for, check);
            } else {
                let made = [
                    ("status", merged.status.is_some()),
                    ("error", merged.error.is_some()),
                    ("body", merged.body.is_some()),
                    ("response", merged.response.is_some()),
                    ("connection", merged.connection.is_some()),
                    ("version", merged.version.is_some()),
                    ("format", merged.format.is_some()),
                    ("readings", !merged.readings.is_empty()),
                ];
                let mut checks: Vec<String> = made
                    .iter()
                    .filter(|(_, made)| *made)
                    .map(|(k, _)| (*k).to_owned())
                    .collect();
                checks.extend(merged.headers.keys().cloned());
                let help = did_you_mean(check, checks.iter().map(String::as_str));
                self.error(
                    key,
                    format!("`without` names `{check}`, which the used step does not check"),
                    help,
                );
            }
        }
        merged
    }
}

/// `over`'s entries replace `base`'s of the same (case-insensitive) key in place; new ones follow.
fn merge_map<V>(mut base: IndexMap<String, V>, over: IndexMap<String, V>) -> IndexMap<String, V> {
    for (key, value) in over {
        match base.keys().position(|k| k.eq_ignore_ascii_case(&key)) {
            Some(index) => {
                if let Some((_, slot)) = base.get_index_mut(index) {
                    *slot = value;
                }
            }
            None => {
                base.insert(key, value);
            }
        }
    }
    base
}

fn remove_key<V>(map: &mut IndexMap<String, V>, key: &str) -> Option<V> {
    let index = map.keys().position(|k| k.eq_ignore_ascii_case(key))?;
    map.shift_remove_index(index).map(|(_, v)| v)
}
