//! Every environment variable docker-compose.yml gives a Bookshelf service is one that
//! service's binary reads: a misspelt variable would otherwise be ignored in silence.

use std::collections::{BTreeMap, BTreeSet};

use clap::CommandFactory;

/// The variables each binary reads, from its clap definition.
fn read_by(service: &str) -> BTreeSet<String> {
    let command = match service {
        "auth" => auth_service::Config::command(),
        "library" => library_service::Config::command(),
        "gateway" => gateway::Config::command(),
        other => panic!("docker-compose.yml has an unknown service {other}"),
    };
    let mut names: BTreeSet<String> = command
        .get_arguments()
        .filter_map(|argument| argument.get_env())
        .map(|name| name.to_string_lossy().into_owned())
        .collect();
    // Read by the logging set-up every binary shares.
    names.insert("RUST_LOG".to_owned());
    names
}

/// The `environment:` keys of each service, read from the file's plain layout.
fn compose_environment() -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docker-compose.yml"))
        .expect("docker-compose.yml at the root");
    let mut services: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let (mut in_services, mut service, mut in_environment) = (false, None::<String>, false);
    for line in text.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let content = line.trim();
        match indent {
            0 => {
                in_services = content == "services:";
                service = None;
            }
            2 if in_services => {
                service = Some(content.trim_end_matches(':').to_owned());
                in_environment = false;
            }
            4 => in_environment = content == "environment:",
            6 if in_environment => {
                let key = content.split(':').next().unwrap().to_owned();
                services
                    .entry(service.clone().expect("inside a service"))
                    .or_default()
                    .push(key);
            }
            _ => {}
        }
    }
    services
}

#[test]
fn every_compose_variable_is_read_by_its_service() {
    let services = compose_environment();
    for service in ["auth", "library", "gateway"] {
        let set = services.get(service).expect("the service sets variables");
        let read = read_by(service);
        for variable in set {
            assert!(
                read.contains(variable),
                "{service} sets {variable}, which it never reads"
            );
        }
    }
    assert!(
        services.contains_key("postgres"),
        "the parser saw the whole file"
    );
}
