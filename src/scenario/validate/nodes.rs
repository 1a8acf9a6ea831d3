//! Farm steps: `node:` (which node a request goes to) and `stop_node:` (a step that
//! stops a node instead of sending a request), and the check, once the target profile
//! is known, that every node a scenario names exists in it.

use super::Validator;
use crate::scenario::error::ScenarioError;
use crate::scenario::model::{self, ScalarText, Spanned};
use crate::scenario::plan::*;
use crate::scenario::profile::Profile;
use crate::scenario::template::Template;
use crate::shared::location::Loc;
use std::sync::Arc;

/// More nodes than any farm a test drives; a bigger index is a typo.
const MAX_NODE: usize = 64;

impl Validator {
    /// `node: 2`, or `node: "${host}"` (an index or a host id, resolved when the step runs).
    pub(super) fn node(&mut self, node: &Spanned<ScalarText>) -> Option<NodePlan> {
        let loc = self.loc(node);
        let text = self.fill(&node.value.0);
        let text = text.trim();
        if text.contains("${") {
            let template = self.template(text, &loc)?;
            return Some(NodePlan::Resolved(Located {
                value: template,
                loc,
            }));
        }
        match text.parse::<usize>() {
            Ok(n) if (1..=MAX_NODE).contains(&n) => {
                Some(NodePlan::Index(Located { value: n, loc }))
            }
            _ => {
                self.error_at(
                    loc,
                    format!("node {text:?} must be a farm node number from 1 to {MAX_NODE} (the profile's `nodes`, counted from 1), or a template such as \"${{host}}\""),
                    None,
                );
                None
            }
        }
    }

    /// A step that stops a farm node: nothing else may be written beside `stop_node`
    /// but its `name`, `requires` and `timeout` (how long the stop command may take).
    pub(super) fn stop_step(
        &mut self,
        number: usize,
        step: &model::Step,
        stop: &Spanned<u32>,
        loc: Loc,
    ) -> Option<StepPlan> {
        let clashes = step.clashing_keys(&["stop_node"]);
        if !clashes.is_empty() {
            self.error_at(
                loc.clone(),
                format!(
                    "a `stop_node` step sends no request, it runs the profile's stop command: drop {}",
                    clashes.join(", ")
                ),
                None,
            );
        }
        let index = usize::try_from(stop.value).unwrap_or(usize::MAX);
        if !(1..=MAX_NODE).contains(&index) {
            self.error(
                stop,
                format!(
                    "`stop_node: {}` must be a farm node number from 1 to {MAX_NODE}",
                    stop.value
                ),
                None,
            );
        }
        let requires = self.capabilities(&step.requires);
        let timeout = self.timeout(step.timeout, &loc);
        let delay = step.delay.as_ref().and_then(|d| {
            let l = self.loc(d);
            self.template(&d.value.0, &l)
        });
        if !clashes.is_empty() || !(1..=MAX_NODE).contains(&index) {
            return None;
        }
        Some(StepPlan {
            number,
            label: step
                .name
                .clone()
                .unwrap_or_else(|| format!("stop node {index}")),
            loc,
            packet: None,
            method: String::new(),
            url: Template::literal(""),
            node: None,
            stop_node: Some(Located {
                value: index,
                loc: self.loc(stop),
            }),
            headers: Vec::new(),
            omit: Vec::new(),
            range: None,
            total: None,
            seed: None,
            body: None,
            body_bytes: None,
            connection: model::ConnectionMode::Same,
            raw: None,
            fault: None,
            generate: None,
            timeout,
            delay,
            requires,
            expect: ExpectPlan::default(),
            captures: Vec::new(),
        })
    }
}

/// Every node index a scenario names that the farm `profile` does not have, located
/// where it is written. A single-URL profile is no error: its scenarios with `node:`
/// steps are skipped with their reason when they run.
pub fn check_nodes_against_profile(
    scenarios: &[Scenario],
    profile: &Profile,
) -> Vec<ScenarioError> {
    if !profile.is_farm() {
        return Vec::new();
    }
    let count = profile.nodes.len();
    let mut errors = Vec::new();
    for scenario in scenarios {
        for node in scenario.node_indexes().filter(|n| n.value > count) {
            let mut e = ScenarioError::new(
                format!(
                    "node {} is out of range: profile `{}` names {count} farm nodes",
                    node.value, profile.name
                ),
                Some(node.loc.clone()),
            )
            .with_help(Some(format!(
                "add the farm's other nodes under `nodes:` in the profile, or use a node from 1 to {count}"
            )));
            if let Ok(text) = std::fs::read_to_string(&*node.loc.file) {
                e = e.with_source(&Arc::<str>::from(text));
            }
            errors.push(e);
        }
    }
    errors
}
