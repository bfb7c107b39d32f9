struct Server;

impl Server {
    #[daemon_rt::daemon]
    fn serve(&self) {}
}

fn main() {}
