//! The cost of one argon2id hash and verification with the service's parameters.

use auth_service::{domain::Password, passwords::Passwords};
use criterion::{Criterion, criterion_group, criterion_main};

fn hashing(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let passwords = Passwords::new(1);
    let stored = runtime
        .block_on(passwords.hash(Password::parse("Corr3ct-Horse!").unwrap()))
        .unwrap();
    let mut group = c.benchmark_group("argon2id m=19MiB t=2 p=1");
    group.sample_size(20);
    group.bench_function("hash", |b| {
        b.iter(|| runtime.block_on(passwords.hash(Password::parse("Corr3ct-Horse!").unwrap())))
    });
    group.bench_function("verify", |b| {
        b.iter(|| {
            runtime.block_on(passwords.verify(
                Password::offered("Corr3ct-Horse!").unwrap(),
                Some(stored.clone()),
            ))
        })
    });
    group.finish();
}

criterion_group!(benches, hashing);
criterion_main!(benches);
