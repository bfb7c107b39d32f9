#[daemon_rt::daemon]
fn serve<T: Default>() {
    let _ = T::default();
}

fn main() {}
