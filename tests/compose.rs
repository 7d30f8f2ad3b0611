//! Every environment variable docker-compose.yml or a Kubernetes manifest gives a
//! Bookshelf binary is one that binary reads: a misspelt variable would otherwise be
//! ignored in silence.

use std::collections::{BTreeMap, BTreeSet};

use clap::CommandFactory;

/// The variables each binary reads, from its clap definition.
fn read_by(binary: &str) -> BTreeSet<String> {
    let command = match binary {
        "auth-service" => auth_service::Config::command(),
        "library-service" => library_service::Config::command(),
        "gateway" => gateway::Config::command(),
        other => panic!("no Bookshelf binary is called {other}"),
    };
    let mut names: BTreeSet<String> = command
        .get_arguments()
        .filter_map(|argument| argument.get_env())
        .map(|name| name.to_string_lossy().into_owned())
        .collect();
    // Read by the logging set-up every binary shares.
    names.insert("RUST_LOG".to_owned());
    if binary == "library-service" {
        // Read by the object-store client, not by clap.
        names.extend(
            library_service::config::OBJECT_STORE_VARIABLES
                .iter()
                .map(|name| (*name).to_owned()),
        );
    }
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
    for (service, binary) in [
        ("auth", "auth-service"),
        ("library", "library-service"),
        ("gateway", "gateway"),
    ] {
        let set = services.get(service).expect("the service sets variables");
        let read = read_by(binary);
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

/// A container of a Kubernetes manifest: the file, the binary its `command` runs, and
/// the names of its `env` entries.
#[derive(Debug, Default)]
struct Container {
    file: String,
    binary: Option<String>,
    env: Vec<String>,
}

/// Every container in `deploy/kubernetes/*.yaml`, read from the manifests' plain
/// layout: `containers:`, then items `- name: ...` whose keys sit two columns further
/// in, among them `command: ["binary", ...]` on one line and `env:` whose items each
/// begin `- name: VARIABLE`. Anything else in an `env` list, and any `envFrom`, fails
/// the test, so a layout this reader does not know cannot hide a variable from it.
fn kubernetes_containers() -> Vec<Container> {
    let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/kubernetes");
    let mut files: Vec<_> = std::fs::read_dir(folder)
        .expect("deploy/kubernetes at the root")
        .map(|entry| entry.expect("a readable folder").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "yaml")
        })
        .collect();
    files.sort();
    let mut containers = Vec::new();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).expect("a readable manifest");
        // The columns of `containers:`, of its items and of the `env` items, and the
        // container key the current line is under.
        let (mut list, mut item, mut env_item) = (None::<usize>, None::<usize>, None::<usize>);
        let mut section = None::<String>;
        let mut current = None::<Container>;
        for line in text.lines() {
            let content = line.trim();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let indent = line.len() - line.trim_start().len();
            if let Some(list_indent) = list
                && (indent < list_indent
                    || (indent == list_indent && !content.starts_with("- "))
                    || content == "---")
            {
                containers.extend(current.take());
                (list, item, section, env_item) = (None, None, None, None);
            }
            if list.is_none() {
                if content == "containers:" {
                    list = Some(indent);
                }
                continue;
            }
            let item_indent = *item.get_or_insert(indent);
            let (key_indent, key_line) = if indent == item_indent && content.starts_with("- ") {
                containers.extend(current.replace(Container {
                    file: file.clone(),
                    ..Container::default()
                }));
                (indent + 2, &content[2..])
            } else {
                (indent, content)
            };
            let container = current.as_mut().expect("inside a container");
            if key_indent == item_indent + 2 {
                let key = key_line.split(':').next().unwrap().trim();
                assert_ne!(
                    key, "envFrom",
                    "{file}: variables from envFrom escape this check; list them under env"
                );
                section = Some(key.to_owned());
                env_item = None;
                if key == "command" {
                    let first = key_line["command:".len()..]
                        .trim()
                        .trim_start_matches('[')
                        .split(',')
                        .next()
                        .unwrap()
                        .trim_matches(|c: char| c == '"' || c == '\'' || c == ']' || c == ' ');
                    container.binary = Some(first.to_owned());
                }
            } else if section.as_deref() == Some("env")
                && content.starts_with("- ")
                && *env_item.get_or_insert(indent) == indent
            {
                let name = content.strip_prefix("- name:").unwrap_or_else(|| {
                    panic!("{file}: an env entry not led by its name: {line:?}")
                });
                container.env.push(name.trim().trim_matches('"').to_owned());
            }
        }
        containers.extend(current.take());
    }
    containers
}

#[test]
fn every_kubernetes_variable_is_read_by_its_container() {
    let containers = kubernetes_containers();
    let mut binaries = BTreeSet::new();
    for container in &containers {
        let file = &container.file;
        let binary = container
            .binary
            .as_deref()
            .unwrap_or_else(|| panic!("{file}: a container without a command"));
        let read = read_by(binary);
        assert!(
            !container.env.is_empty(),
            "{file}: {binary} is given no env"
        );
        for variable in &container.env {
            assert!(
                read.contains(variable),
                "{file}: {binary} is given {variable}, which it never reads"
            );
        }
        binaries.insert(binary);
    }
    assert_eq!(
        binaries,
        BTreeSet::from(["auth-service", "gateway", "library-service"]),
        "the parser saw a container of every binary"
    );
}
