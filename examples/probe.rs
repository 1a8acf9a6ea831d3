use bitspec::scenario::model::ScenarioDoc;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    match serde_saphyr::from_str_with_options::<ScenarioDoc>(&text, serde_saphyr::options! { with_snippet: false }) {
        Ok(d) => println!("{d:#?}"),
        Err(e) => { println!("DISPLAY: {e}\nLOC: {:?}", e.location()); }
    }
}
