//! `bitspec list`: the scenarios a selection picks.

use crate::options::select::{SelectArgs, selected};
use crate::scenario::Scenario;
use crate::shared::exit;

pub fn list(args: &SelectArgs) -> u8 {
    match selected(args) {
        Ok(scenarios) => print_list(&scenarios),
        Err(code) => code,
    }
}

pub fn print_list(scenarios: &[Scenario]) -> u8 {
    for s in scenarios {
        println!("{:<48} {:<6} {}", s.name, s.level.as_str(), s.title);
    }
    println!(
        "{} scenario{}",
        scenarios.len(),
        if scenarios.len() == 1 { "" } else { "s" }
    );
    exit::PASSED
}
