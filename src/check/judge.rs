//! The check stage as the runner's [`Judge`]: handed to the runner by whoever starts a
//! run (`RunOptions::new(url, check::judge())`).

use super::{check_exchange, check_framing};
use crate::run::Judge;
use crate::scenario::plan::ExpectPlan;
use crate::scenario::template::Vars;
use crate::shared::location::Loc;
use crate::shared::observation::{BodyObservation, TransportObservation};
use crate::shared::outcome::{Mismatch, ReadingChoice, RecordedRequest, RecordedResponse};
use std::sync::Arc;

/// The checks of this crate: expectations, readings, framing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Checks;

impl Judge for Checks {
    fn exchange(
        &self,
        plan: &ExpectPlan,
        response: Option<&RecordedResponse>,
        body: &BodyObservation,
        observed: &TransportObservation,
        vars: &Vars,
    ) -> (Vec<Mismatch>, Vec<ReadingChoice>) {
        check_exchange(plan, response, body, observed, vars)
    }

    fn framing(
        &self,
        request: &RecordedRequest,
        response: &RecordedResponse,
        observed: &TransportObservation,
        loc: &Loc,
    ) -> Option<Mismatch> {
        check_framing(request, response, observed, loc)
    }
}

/// The judge every run of the suite uses.
pub fn judge() -> Arc<dyn Judge> {
    Arc::new(Checks)
}
