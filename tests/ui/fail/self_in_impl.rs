struct Server;

impl Server {
    fn port() -> u16 {
        8080
    }

    #[daemon_rt::daemon]
    fn serve() -> u16 {
        Self::port()
    }
}

fn main() {}
