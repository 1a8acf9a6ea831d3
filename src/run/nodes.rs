//! Farm targets: the node a step goes to (each node with its own keep-alive
//! connection), the stop and start commands a profile gives for its nodes, and why a
//! scenario about a farm cannot run against a profile.

use super::options::{RunOptions, millis};
use super::transport::Connection;
use crate::scenario::plan::{NodePlan, Scenario, StepPlan};
use crate::scenario::profile::Profile;
use crate::scenario::template::Vars;
use crate::shared::outcome::{RecordedRequest, StepOutcome};
use std::time::{Duration, Instant};

/// How long a stop or start command may run when its step sets no `timeout`.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Why `scenario` cannot run against `profile`'s target, if it cannot: it sends steps
/// to farm nodes and the profile names a single URL, or it stops a node the profile
/// gives no `stop` command for.
pub(super) fn farm_skip_reason(scenario: &Scenario, profile: &Profile) -> Option<String> {
    if !scenario.uses_nodes() {
        return None;
    }
    if !profile.is_farm() {
        return Some(format!(
            "needs capability `farm`, which target profile `{}` does not declare: it sends steps to farm nodes (`node:`) and the profile names a single URL; list the farm's node URLs under `nodes:` to run it",
            profile.name
        ));
    }
    scenario
        .steps
        .iter()
        .filter_map(|s| s.stop_node.as_ref())
        .find(|n| {
            profile
                .nodes
                .get(n.value - 1)
                .is_none_or(|node| node.stop.is_none())
        })
        .map(|n| {
            format!(
                "stops node {} mid-scenario, but target profile `{}` gives no `stop` command for node {}",
                n.value, profile.name, n.value
            )
        })
}

/// The connections of one scenario: the target's, and one per farm node.
pub(super) struct NodeConnections {
    /// Index 0: the target; index N: node N.
    connections: Vec<Connection>,
}

impl NodeConnections {
    pub(super) fn new(options: &RunOptions) -> NodeConnections {
        NodeConnections {
            connections: (0..=options.profile.nodes.len())
                .map(|_| Connection::for_run(options))
                .collect(),
        }
    }

    /// The connection to node `node` (0: the target).
    pub(super) fn get(&mut self, node: usize) -> &mut Connection {
        let last = self.connections.len() - 1;
        &mut self.connections[node.min(last)]
    }
}

/// The node `step` goes to (0: the target), its `node:` resolved with `vars`: a
/// number, or the host id of one of the profile's nodes (ignoring case).
pub(super) fn resolve_node(
    step: &StepPlan,
    vars: &Vars,
    profile: &Profile,
) -> Result<usize, String> {
    let (text, what) = match &step.node {
        None => return Ok(0),
        Some(NodePlan::Index(n)) => (n.value.to_string(), "node"),
        Some(NodePlan::Resolved(t)) => (t.value.render(vars)?, "node (resolved)"),
    };
    let text = text.trim();
    let count = profile.nodes.len();
    if let Ok(n) = text.parse::<usize>() {
        return if (1..=count).contains(&n) {
            Ok(n)
        } else {
            Err(format!(
                "{what} {n} is out of range: profile `{}` names {count} farm nodes",
                profile.name
            ))
        };
    }
    profile
        .nodes
        .iter()
        .position(|node| {
            node.host_id
                .as_deref()
                .is_some_and(|h| h.eq_ignore_ascii_case(text))
        })
        .map(|i| i + 1)
        .ok_or_else(|| {
            let known: Vec<&str> = profile
                .nodes
                .iter()
                .filter_map(|n| n.host_id.as_deref())
                .collect();
            format!(
                "{what} {text:?} is neither a node number nor the host id of a node of profile `{}` (its host ids: {}); the profile does not describe this farm",
                profile.name,
                if known.is_empty() { "none".to_owned() } else { known.join(", ") }
            )
        })
}

/// Points `${upload_url}` and `${target}` at node `node` (0: the target); returns the
/// values to put back once the step has run.
pub(super) fn point_at_node(
    vars: &mut Vars,
    options: &RunOptions,
    node: usize,
) -> Option<(String, String)> {
    let base = options.profile.node_base(node)?;
    let upload = vars.get("upload_url")?.clone();
    let target = vars.get("target")?.clone();
    let relative = upload.strip_prefix(options.target.as_str())?;
    vars.insert("upload_url".into(), format!("{base}{relative}"));
    vars.insert("target".into(), base);
    Some((upload, target))
}

/// Puts back what [`point_at_node`] replaced.
pub(super) fn restore(vars: &mut Vars, saved: Option<(String, String)>) {
    if let Some((upload, target)) = saved {
        vars.insert("upload_url".into(), upload);
        vars.insert("target".into(), target);
    }
}

/// Runs a `stop_node` step: the profile's stop command for that node, within the
/// step's timeout. A command that fails or hangs is the step's error.
pub(super) async fn stop_node(
    step: &StepPlan,
    node: usize,
    vars: &Vars,
    options: &RunOptions,
) -> StepOutcome {
    if let Some(delay) = &step.delay {
        match delay
            .render(vars)
            .and_then(|text| crate::scenario::validate::parse_seconds(&text))
        {
            Ok(delay) => tokio::time::sleep(delay).await,
            Err(e) => return unresolved_node(step, e),
        }
    }
    let command = options
        .profile
        .nodes
        .get(node - 1)
        .and_then(|n| n.stop.clone())
        .unwrap_or_default();
    run_node_command(
        step.number,
        &step.label,
        &step.loc,
        "stop",
        node,
        &command,
        step.timeout,
    )
    .await
}

/// Runs node `node`'s start command after a scenario that stopped it, if the profile gives one.
pub(super) async fn start_node(node: usize, options: &RunOptions) -> Option<StepOutcome> {
    let command = options.profile.nodes.get(node - 1)?.start.clone()?;
    let loc = crate::shared::location::Loc::new(&std::sync::Arc::from(""), 0, 0);
    Some(
        run_node_command(
            0,
            &format!("cleanup: start node {node}"),
            &loc,
            "start",
            node,
            &command,
            None,
        )
        .await,
    )
}

async fn run_node_command(
    number: usize,
    label: &str,
    loc: &crate::shared::location::Loc,
    what: &str,
    node: usize,
    command: &str,
    timeout: Option<Duration>,
) -> StepOutcome {
    let started = Instant::now();
    let timeout = timeout.unwrap_or(COMMAND_TIMEOUT);
    let error = match run_command(command, timeout).await {
        Ok(()) => None,
        Err(e) => Some(format!(
            "the {what} command of node {node} ({command:?}) {e}"
        )),
    };
    StepOutcome {
        number,
        label: label.to_owned(),
        loc: loc.clone(),
        request: RecordedRequest::new(what.to_owned(), format!("node {node}"), Vec::new(), 0),
        response: None,
        mismatches: Vec::new(),
        readings: Vec::new(),
        error,
        elapsed_ms: millis(started.elapsed()),
    }
}

/// `sh -c command`, killed if it outlives `timeout`. Its output is discarded (not
/// piped: a start command that leaves a server running in the background would hold a
/// pipe open forever); its exit status says whether it worked.
async fn run_command(command: &str, timeout: Duration) -> Result<(), String> {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("could not start: {e}"))?;
    match tokio::time::timeout(timeout, child.wait()).await {
        Err(_) => Err(format!("did not finish within {} s", timeout.as_secs_f64())),
        Ok(Err(e)) => Err(format!("failed: {e}")),
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("exited with {status}")),
    }
}

/// The outcome of a step whose `node:` named no node of the profile.
pub(super) fn unresolved_node(step: &StepPlan, error: String) -> StepOutcome {
    StepOutcome {
        number: step.number,
        label: step.label.clone(),
        loc: step.loc.clone(),
        request: RecordedRequest::new(step.method.clone(), String::new(), Vec::new(), 0),
        response: None,
        mismatches: Vec::new(),
        readings: Vec::new(),
        error: Some(error),
        elapsed_ms: 0,
    }
}
