//! The editor's round trip, field by field, over an app as rich as Marathon's users write
//! them: unknown keys at the top and nested in the container and health checks, secrets in
//! env, a fetch list, legacy `ipAddress` and `ports`, strategies, numbers JSON must keep.

use super::*;
use serde_json::json;

/// An app as `GET /v2/apps/<id>` answers it (read-only keys included).
fn answered() -> Value {
    // Text, not json!: the macro would need a deeper recursion limit for an app this rich.
    serde_json::from_str(
        r#"{
    "id": "/prod/web",
    "cmd": "python3 -m http.server $PORT0\n# a second line, kept",
    "cpus": 0.25, "mem": 64.5, "disk": 0, "gpus": 0, "instances": 2,
    "executor": "", "user": "nobody",
    "env": {"PLAIN": "x", "SPACED": "  padded  ", "EMPTY": "",
            "DB_PASSWORD": {"secret": "pw"}, "MULTI": "a\nb"},
    "secrets": {"pw": {"source": "/prod/db-password"}},
    "labels": {"HAPROXY_GROUP": "external", "team": "web"},
    "constraints": [["hostname", "UNIQUE"], ["rack", "LIKE", "r[12]:x"]],
    "fetch": [{"uri": "https://example.com/app.tgz", "extract": true, "executable": false,
               "cache": false, "destPath": "app"}],
    "container": {"type": "DOCKER", "volumes": [],
        "docker": {"image": "python:3.12", "forcePullImage": false, "privileged": false,
            "parameters": [{"key": "log-driver", "value": "json-file"}],
            "futureDockerKey": {"nested": [1, 2]}},
        "someContainerExtension": true},
    "healthChecks": [
        {"protocol": "MESOS_HTTP", "path": "/health", "portIndex": 0,
         "gracePeriodSeconds": 300, "intervalSeconds": 60, "timeoutSeconds": 20,
         "maxConsecutiveFailures": 3, "ignoreHttp1xx": false, "delaySeconds": 15,
         "unknownHcKey": {"deep": true}},
        {"protocol": "TCP", "portIndex": 1, "gracePeriodSeconds": 300,
         "intervalSeconds": 60, "timeoutSeconds": 20, "maxConsecutiveFailures": 3}],
    "readinessChecks": [],
    "dependencies": ["/prod/db"],
    "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.2},
    "unreachableStrategy": {"inactiveAfterSeconds": 300, "expungeAfterSeconds": 600},
    "killSelection": "OLDEST_FIRST",
    "backoffSeconds": 2, "backoffFactor": 1.5, "maxLaunchDelaySeconds": 3600,
    "portDefinitions": [
        {"port": 10000, "protocol": "tcp", "name": "http", "labels": {"VIP_0": "/web:80"}},
        {"port": 10001, "protocol": "udp,tcp", "name": "admin", "futurePortKey": 7}],
    "ports": [10000, 10001],
    "requirePorts": false,
    "ipAddress": {"groups": [], "labels": {}, "discovery": {"ports": []}, "networkName": "dcos"},
    "networks": [{"mode": "host"}],
    "residency": null,
    "taskKillGracePeriodSeconds": 30,
    "acceptedResourceRoles": ["*"], "role": "prod",
    "someFutureField": {"a": [1, {"b": null}], "c": "ü ✓"},
    "bigCounter": 12345678901234567890,
    "precise": 1.0000000000000002,
    "version": "2026-12-04T09:13:55.123Z",
    "versionInfo": {"lastScalingAt": "2026-12-04T09:13:55.123Z",
                    "lastConfigChangeAt": "2026-12-01T00:00:00.000Z"},
    "tasksStaged": 0, "tasksRunning": 2, "tasksHealthy": 2, "tasksUnhealthy": 0,
    "deployments": [{"id": "d1"}],
    "tasks": [{"id": "prod_web.1", "host": "a"}],
    "lastTaskFailure": {"message": "boom"},
    "readinessCheckResults": [],
    "taskStats": {"totalSummary": {}}
}"#,
    )
    .expect("the app is JSON")
}

/// What a browser sends back for a form rendered from `def` and left alone: every control's
/// text, textareas with CRLF line ends (browsers send them so).
fn as_sent(def: &Value) -> HashMap<String, String> {
    Field::ALL
        .into_iter()
        .map(|f| {
            let t = f.render(def);
            let t = if f.multiline() {
                t.replace('\n', "\r\n")
            } else {
                t
            };
            (f.name().to_string(), t)
        })
        .collect()
}

fn with(def: &Value, changes: &[(Field, &str)]) -> HashMap<String, String> {
    let mut s = as_sent(def);
    for (f, t) in changes {
        s.insert(f.name().into(), t.to_string());
    }
    s
}

#[test]
fn the_definition_drops_what_marathon_adds_and_keeps_everything_else() {
    let app = answered();
    let def = definition(&app);
    for k in READ_ONLY {
        assert!(def.get(*k).is_none(), "{k} is kept");
    }
    let mut back = def.as_object().cloned().unwrap_or_default();
    for k in READ_ONLY {
        if let Some(v) = app.get(*k) {
            back.insert(k.to_string(), v.clone());
        }
    }
    assert_eq!(Value::Object(back), app, "only the read-only keys went");
    assert_eq!(def["bigCounter"], json!(12345678901234567890u64));
}

#[test]
fn saving_an_unchanged_form_sends_the_definition_back_exactly() {
    let def = definition(&answered());
    let sent = apply(&def, &as_sent(&def), true).expect("no errors");
    assert_eq!(sent, def);
    assert!(changed(&def, &as_sent(&def)).is_empty());
    // Byte for byte in value: the same JSON text once keys are sorted.
    assert_eq!(pretty(&sent), pretty(&def));
    // A form that leaves fields out (disabled controls) touches them neither.
    assert_eq!(apply(&def, &HashMap::new(), true).expect("no errors"), def);
    // Whitespace browsers add or drop at the ends of lines and fields changes nothing.
    let mut sloppy = as_sent(&def);
    sloppy.insert("cpus".into(), " 0.25 ".into());
    sloppy.insert(
        "labels".into(),
        "\r\nHAPROXY_GROUP=external\r\n\r\nteam=web\r\n".into(),
    );
    sloppy.insert(
        "cmd".into(),
        format!(
            "{}\r\n",
            def["cmd"]
                .as_str()
                .unwrap_or_default()
                .replace('\n', "\r\n")
        ),
    );
    assert_eq!(apply(&def, &sloppy, true).expect("no errors"), def);
}

#[test]
fn a_new_command_changes_only_cmd() {
    let def = definition(&answered());
    let sent = apply(&def, &with(&def, &[(Field::Cmd, "sleep 1000")]), true).expect("ok");
    let mut want = def.clone();
    want["cmd"] = json!("sleep 1000");
    assert_eq!(sent, want);
}

#[test]
fn each_field_changes_exactly_its_json() {
    let def = definition(&answered());
    type Edit = fn(&mut Value);
    let cases: Vec<(Field, &str, Edit)> = vec![
        (Field::Cpus, "0.5", |v| v["cpus"] = json!(0.5)),
        (Field::Mem, "256", |v| v["mem"] = json!(256)),
        (Field::Disk, "10.5", |v| v["disk"] = json!(10.5)),
        (Field::Instances, "3", |v| v["instances"] = json!(3)),
        (Field::Image, "python:3.13", |v| {
            v["container"]["docker"]["image"] = json!("python:3.13")
        }),
        (
            Field::Env,
            "PLAIN=y\nSPACED=  padded  \nEMPTY=\nNEW=a=b",
            |v| {
                v["env"]["PLAIN"] = json!("y");
                v["env"]["NEW"] = json!("a=b");
            },
        ),
        (Field::Labels, "team=web", |v| {
            v["labels"]
                .as_object_mut()
                .map(|l| l.remove("HAPROXY_GROUP"));
        }),
        (Field::Ports, "8080, 0, 9000", |v| {
            v["portDefinitions"][0]["port"] = json!(8080);
            v["portDefinitions"][1]["port"] = json!(0);
            if let Some(a) = v["portDefinitions"].as_array_mut() {
                a.push(json!({"port": 9000, "protocol": "tcp"}));
            }
            v.as_object_mut().map(|o| o.remove("ports"));
        }),
        (Field::HcProtocol, "HTTP", |v| {
            v["healthChecks"][0]["protocol"] = json!("HTTP")
        }),
        (Field::HcPath, "/ready", |v| {
            v["healthChecks"][0]["path"] = json!("/ready")
        }),
        (Field::HcPortIndex, "1", |v| {
            v["healthChecks"][0]["portIndex"] = json!(1)
        }),
        (Field::HcProtocol, "none", |v| {
            v["healthChecks"].as_array_mut().map(|a| a.remove(0));
        }),
        (
            Field::Constraints,
            "hostname:UNIQUE\nrack:LIKE:r[12]:x\nzone:group_by:3",
            |v| {
                if let Some(a) = v["constraints"].as_array_mut() {
                    a.push(json!(["zone", "GROUP_BY", "3"]));
                }
            },
        ),
        (Field::Cmd, "", |v| {
            v.as_object_mut().map(|o| o.remove("cmd"));
        }),
    ];
    for (field, text, edit) in cases {
        let sent = apply(&def, &with(&def, &[(field, text)]), true)
            .unwrap_or_else(|e| panic!("{field:?} = {text:?}: {e:?}"));
        let mut want = def.clone();
        edit(&mut want);
        assert_eq!(sent, want, "{field:?} = {text:?}");
        assert_eq!(
            changed(&def, &with(&def, &[(field, text)]))
                .iter()
                .map(|(f, _)| *f)
                .collect::<Vec<_>>(),
            [field]
        );
    }
    // The id of an app being edited is not the form's to change.
    let same = apply(&def, &with(&def, &[(Field::Id, "/other")]), true).expect("ok");
    assert_eq!(same, def);
}

#[test]
fn args_replace_lines_and_values_lines_cannot_say_are_locked() {
    let base = json!({"id": "/a", "args": ["--port", "8080"], "cpus": 1});
    assert_eq!(Field::Args.render(&base), "--port\n8080");
    let sent = apply(
        &base,
        &with(&base, &[(Field::Args, "--port\r\n9090\r\n")]),
        true,
    )
    .expect("ok");
    assert_eq!(sent["args"], json!(["--port", "9090"]));
    let odd = json!({"id": "/a", "args": ["one\ntwo", ""]});
    assert!(Field::Args.locked(&odd).is_some());
    let kept = apply(&odd, &with(&odd, &[(Field::Args, "x")]), true).expect("ok");
    assert_eq!(kept, odd, "a locked field is never written");
    let mapped = json!({"id": "/b", "container": {"type": "DOCKER",
        "docker": {"image": "nginx", "network": "BRIDGE", "portMappings": [{"containerPort": 80}]}}});
    assert!(Field::Ports.locked(&mapped).is_some());
    assert!(Field::HcPath
        .locked(&json!({"healthChecks": [{"protocol": "TCP"}]}))
        .is_some());
    let def = definition(&answered());
    assert!(Field::Env
        .kept(&def)
        .is_some_and(|k| k.contains("DB_PASSWORD (a secret)") && k.contains("MULTI")));
    assert!(Field::HcProtocol
        .kept(&def)
        .is_some_and(|k| k.contains("first of 2")));
}

#[test]
fn a_new_app_from_the_form() {
    let base = new_app();
    let sent = apply(
        &base,
        &with(
            &base,
            &[
                (Field::Id, " /ui-new "),
                (Field::Cmd, "sleep 1000"),
                (Field::Mem, "32"),
                (Field::Image, "busybox"),
                (Field::Env, "A=1\r\nB=2"),
                (Field::Ports, "0"),
                (Field::HcProtocol, "HTTP"),
                (Field::HcPath, "/health"),
                (Field::Constraints, "hostname:unique"),
            ],
        ),
        false,
    )
    .expect("ok");
    assert_eq!(
        sent,
        json!({"id": "/ui-new", "cmd": "sleep 1000", "cpus": 0.1, "mem": 32, "disk": 0,
            "instances": 1, "container": {"type": "DOCKER", "docker": {"image": "busybox"}},
            "env": {"A": "1", "B": "2"}, "portDefinitions": [{"port": 0, "protocol": "tcp"}],
            "healthChecks": [{"protocol": "HTTP", "path": "/health"}],
            "constraints": [["hostname", "UNIQUE"]]})
    );
    // Untouched, a new form is the defaults (and Marathon says the id is missing).
    assert_eq!(apply(&base, &as_sent(&base), false).expect("ok"), base);
}

#[test]
fn clearing_the_image_removes_a_container_that_only_held_it() {
    let base = json!({"id": "/a", "cmd": "x", "container": {"type": "DOCKER", "volumes": [],
        "docker": {"image": "busybox", "forcePullImage": false, "privileged": false, "parameters": []}}});
    let sent = apply(&base, &with(&base, &[(Field::Image, "")]), true).expect("ok");
    assert_eq!(sent, json!({"id": "/a", "cmd": "x"}));
    // One with more to it keeps it (Marathon then says the image is missing, at the field).
    let rich = json!({"id": "/a", "container": {"type": "DOCKER",
        "docker": {"image": "busybox", "network": "BRIDGE"}}});
    let sent = apply(&rich, &with(&rich, &[(Field::Image, "")]), true).expect("ok");
    assert_eq!(
        sent["container"],
        json!({"type": "DOCKER", "docker": {"network": "BRIDGE"}})
    );
}

#[test]
fn what_cannot_be_written_is_an_error_at_its_field() {
    let def = definition(&answered());
    let e = apply(
        &def,
        &with(
            &def,
            &[
                (Field::Cpus, "lots"),
                (Field::Instances, "1.5"),
                (Field::Env, "NOEQUALS"),
                (Field::Ports, "80, 70000"),
                (Field::Constraints, "hostname"),
            ],
        ),
        true,
    )
    .expect_err("errors");
    let at: Vec<Field> = e.fields.keys().copied().collect();
    assert_eq!(
        at,
        [
            Field::Instances,
            Field::Cpus,
            Field::Env,
            Field::Ports,
            Field::Constraints
        ]
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );
    assert!(e.fields[&Field::Ports][0].contains("70000"));
    let none = json!({"id": "/a", "cmd": "x"});
    let e = apply(&none, &with(&none, &[(Field::HcPath, "/health")]), true).expect_err("no check");
    assert!(e.fields.contains_key(&Field::HcPath));
    let e = apply(&none, &with(&none, &[(Field::Env, "A=1\nA=2")]), true).expect_err("twice");
    assert!(e.fields[&Field::Env][0].contains("twice"));
}

#[test]
fn marathons_errors_land_at_their_fields() {
    let body = json!({"message": "Object is not valid", "details": [
        {"path": "/cpus", "errors": ["got -1.0, expected 0.0 or more"]},
        {"path": "/id", "errors": ["must not be empty"]},
        {"path": "/healthChecks(0)/portIndex", "errors": ["portIndex 3 is out of range"]},
        {"path": "/healthChecks(0)/path", "errors": ["bad"]},
        {"path": "/healthChecks(0)", "errors": ["intervalSeconds must be positive"]},
        {"path": "/container/docker/image", "errors": ["must not be empty"]},
        {"path": "/portDefinitions(1)/port", "errors": ["port 80 is defined twice"]},
        {"path": "/constraints(0)", "errors": ["Constraint operator must be one of …"]},
        {"path": "/env/FOO", "errors": ["must be a string"]},
        {"path": "/upgradeStrategy/minimumHealthCapacity", "errors": ["is not between 0 and 1"]},
        {"path": "/", "errors": ["AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."]}
    ]});
    let e = Errors::from_marathon(&body);
    let at = |f: Field| e.fields.get(&f).cloned().unwrap_or_default();
    assert_eq!(at(Field::Cpus), ["got -1.0, expected 0.0 or more"]);
    assert_eq!(at(Field::Id), ["must not be empty"]);
    assert_eq!(at(Field::HcPortIndex), ["portIndex 3 is out of range"]);
    assert_eq!(at(Field::HcPath), ["bad"]);
    assert_eq!(at(Field::HcProtocol), ["intervalSeconds must be positive"]);
    assert_eq!(at(Field::Image), ["must not be empty"]);
    assert_eq!(at(Field::Ports).len(), 1);
    assert_eq!(at(Field::Constraints).len(), 1);
    assert_eq!(at(Field::Env).len(), 1);
    assert_eq!(
        e.general,
        [
            "/upgradeStrategy/minimumHealthCapacity: is not between 0 and 1",
            "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."
        ]
    );
    // Marathon before 1.4, and a body with no details at all.
    let old =
        Errors::from_marathon(&json!({"errors": [{"attribute": "mem", "error": "too small"}]}));
    assert_eq!(old.fields[&Field::Mem], ["too small"]);
    let bare = Errors::from_marathon(&json!({"message": "App is locked"}));
    assert_eq!(bare.general, ["App is locked"]);
}

#[test]
fn a_rebase_keeps_the_users_changes_on_the_newer_definition() {
    let old = definition(&answered());
    let mut newer = old.clone();
    newer["instances"] = json!(5);
    newer["labels"]["added-meanwhile"] = json!("yes");
    let submitted = with(&old, &[(Field::Cmd, "sleep 5")]);
    let texts = rebase(&old, &newer, &submitted);
    assert_eq!(texts["instances"], "5");
    assert_eq!(texts["cmd"], "sleep 5");
    let sent = apply(&newer, &texts, true).expect("ok");
    let mut want = newer.clone();
    want["cmd"] = json!("sleep 5");
    assert_eq!(sent, want);
}

#[test]
fn typed_json_is_a_definition_without_read_only_keys() {
    let v = parse_json(&answered().to_string()).expect("valid");
    assert_eq!(v, definition(&answered()));
    assert!(parse_json("[1]").is_err());
    assert!(parse_json("{\"id\": ")
        .expect_err("cut short")
        .contains("not valid JSON"));
}

#[test]
fn the_diff_shows_the_changed_lines_with_context() {
    let old = definition(&answered());
    let mut new = old.clone();
    new["cmd"] = json!("sleep 1000");
    new["zzz"] = json!(1);
    let rows = diff(&old, &new, 2).expect("small");
    let removed: Vec<&DiffRow> = rows
        .iter()
        .filter(|r| matches!(r, DiffRow::Removed { .. }))
        .collect();
    let added: Vec<&DiffRow> = rows
        .iter()
        .filter(|r| matches!(r, DiffRow::Added { .. }))
        .collect();
    assert!(
        matches!(removed.as_slice(), [DiffRow::Removed { text, .. }, ..] if text.contains("\"cmd\": \"python3 -m http.server")),
        "{rows:?}"
    );
    assert!(added
        .iter()
        .any(|r| matches!(r, DiffRow::Added { text, .. } if text == "  \"cmd\": \"sleep 1000\",")));
    assert!(added
        .iter()
        .any(|r| matches!(r, DiffRow::Added { text, .. } if text.contains("\"zzz\": 1"))));
    assert!(
        matches!(rows.first(), Some(DiffRow::Skipped(n)) if *n > 0),
        "{rows:?}"
    );
    // Keys are sorted whatever order they came in, so equal definitions have no diff.
    let reordered: Value = serde_json::from_str(&pretty(&old)).expect("json");
    assert_eq!(diff(&old, &reordered, 3), Some(vec![]));
    let lines = pretty(&json!({"b": 1, "a": {"d": 1, "c": 2}}));
    assert_eq!(
        lines,
        "{\n  \"a\": {\n    \"c\": 2,\n    \"d\": 1\n  },\n  \"b\": 1\n}"
    );
}
