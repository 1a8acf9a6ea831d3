//! The example upload-reply application, standalone.
//!
//! Run it, then point the server at it:
//! `cargo run -p bitspec-server --example reply-app -- 127.0.0.1:9000` and
//! `bitspec-server --notification-type by-reference --notification-url http://127.0.0.1:9000/`.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9000".to_string())
        .parse()
        .map_err(std::io::Error::other)?;
    let app = bitspec_server::example_app::spawn(addr).await?;
    println!("example application listening on {}", app.base_url());
    tokio::signal::ctrl_c().await
}
