//! The generator's part of the runtime seam: TCP connections (glommio). Executors and timers come
//! from `strata_engine::rt`.

pub type Stream = glommio::net::TcpStream;

pub async fn connect(addr: &str) -> std::io::Result<Stream> {
    let s = glommio::net::TcpStream::connect(addr)
        .await
        .map_err(std::io::Error::from)?;
    s.set_nodelay(true).map_err(std::io::Error::from)?;
    Ok(s)
}
