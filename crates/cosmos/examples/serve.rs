//! Serve the package API alone, for trying clients against it (`dcos package …` with
//! `DCOS_URL=http://127.0.0.1:PORT`): `cargo run -p drover-cosmos --example serve -- PORT
//! STATE_DIR [MARATHON_URL [MASTER_URL]]`.

use std::sync::Arc;

struct Fixed(Option<String>, Option<String>);

impl drover_cosmos::Upstreams for Fixed {
    fn marathon(&self) -> Option<String> {
        self.0.clone()
    }
    fn master(&self) -> Option<String> {
        self.1.clone()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let port = args.next().unwrap_or_else(|| "8000".into());
    let dir = args.next().unwrap_or_else(|| "/tmp/drover-cosmos".into());
    let upstreams = Arc::new(Fixed(args.next(), args.next()));
    let cosmos = drover_cosmos::Cosmos::new(dir.into(), upstreams)?;
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    axum::serve(listener, drover_cosmos::router(Arc::new(cosmos))).await?;
    Ok(())
}
