//! How a container's end becomes its task's terminal update, in the words Mesos' executors use:
//! the command executor's for process containers (`Command exited with status 3`), the docker
//! executor's for Docker containers (`Container exited with status 3`). Pure.

use crate::containerizer::{End, Exit, Kind};
use drover_api::{Reason, TaskState};

/// The terminal state, message and reason of a task whose container ended as `exit`; `killed`:
/// a kill had been asked for.
pub(super) fn terminal(
    kind: Kind,
    exit: &Exit,
    killed: bool,
) -> (TaskState, String, Option<Reason>) {
    match kind {
        Kind::Process => command_ended(exit, killed),
        Kind::Docker => container_ended(exit, killed),
    }
}

fn command_ended(exit: &Exit, killed: bool) -> (TaskState, String, Option<Reason>) {
    use TaskState::*;
    if exit.oom {
        return (
            TASK_FAILED,
            "Memory limit exceeded: the task was OOM-killed".into(),
            Some(Reason::REASON_CONTAINER_LIMITATION_MEMORY),
        );
    }
    match (&exit.end, killed) {
        (End::Unobserved, true) => (
            TASK_KILLED,
            "Command terminated after a kill request".into(),
            None,
        ),
        // The process is not our child any more: its exit status went to init.
        (End::Unobserved, false) => (
            TASK_FAILED,
            "Task exited after the agent restarted; its exit status could not be observed".into(),
            Some(Reason::REASON_EXECUTOR_TERMINATED),
        ),
        (End::Lost | End::Vanished, _) => (
            TASK_FAILED,
            "Lost track of the task's process".into(),
            Some(Reason::REASON_EXECUTOR_TERMINATED),
        ),
        (End::Signal(sig), true) => (
            TASK_KILLED,
            format!("Command terminated with signal {}", signal_name(*sig)),
            None,
        ),
        (End::Code(c), true) => (TASK_KILLED, format!("Command exited with status {c}"), None),
        (End::Exited, true) => (TASK_KILLED, "Command exited with status -1".into(), None),
        (End::Code(0), false) => (TASK_FINISHED, "Command exited with status 0".into(), None),
        (End::Code(c), false) => (TASK_FAILED, format!("Command exited with status {c}"), None),
        (End::Signal(sig), false) => (
            TASK_FAILED,
            format!("Command terminated with signal {}", signal_name(*sig)),
            None,
        ),
        (End::Exited, false) => (TASK_FAILED, "Command exited".into(), None),
    }
}

fn container_ended(exit: &Exit, killed: bool) -> (TaskState, String, Option<Reason>) {
    use TaskState::*;
    let code = match exit.end {
        End::Code(c) => c,
        End::Signal(s) => 128 + i64::from(s),
        End::Exited => -1,
        End::Vanished | End::Lost | End::Unobserved => {
            return if killed {
                (
                    TASK_KILLED,
                    "Container was removed after a kill request".into(),
                    None,
                )
            } else {
                (
                    TASK_FAILED,
                    "Container was removed outside the agent".into(),
                    Some(Reason::REASON_EXECUTOR_TERMINATED),
                )
            };
        }
    };
    if exit.oom {
        return (
            TASK_FAILED,
            format!("Memory limit exceeded: the container was OOM-killed (Container exited with status {code})"),
            Some(Reason::REASON_CONTAINER_LIMITATION_MEMORY),
        );
    }
    let mut msg = format!("Container exited with status {code}");
    if let Some(e) = exit.error.as_deref().filter(|e| !e.is_empty()) {
        msg.push_str(&format!(": {e}"));
    }
    if killed {
        (TASK_KILLED, msg, None)
    } else if code == 0 {
        (TASK_FINISHED, msg, None)
    } else {
        (TASK_FAILED, msg, None)
    }
}

fn signal_name(sig: i32) -> String {
    use nix::sys::signal::Signal;
    match Signal::try_from(sig) {
        Ok(Signal::SIGTERM) => "Terminated".into(),
        Ok(Signal::SIGKILL) => "Killed".into(),
        Ok(Signal::SIGINT) => "Interrupt".into(),
        Ok(s) => s.as_str().to_string(),
        Err(_) => sig.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Reason::*;
    use TaskState::*;

    fn exit(end: End, oom: bool) -> Exit {
        Exit {
            end,
            oom,
            error: None,
        }
    }

    fn says(kind: Kind, e: Exit, killed: bool) -> (TaskState, String, Option<Reason>) {
        terminal(kind, &e, killed)
    }

    #[test]
    fn a_commands_end_in_the_command_executors_words() {
        use End::*;
        type Row = (End, bool, bool, TaskState, &'static str, Option<Reason>);
        let table: Vec<Row> = vec![
            // end, oom, killed → state, message, reason
            (
                Code(0),
                false,
                false,
                TASK_FINISHED,
                "Command exited with status 0",
                None,
            ),
            (
                Code(3),
                false,
                false,
                TASK_FAILED,
                "Command exited with status 3",
                None,
            ),
            (
                Signal(9),
                false,
                false,
                TASK_FAILED,
                "Command terminated with signal Killed",
                None,
            ),
            (
                Signal(11),
                false,
                false,
                TASK_FAILED,
                "Command terminated with signal SIGSEGV",
                None,
            ),
            (Exited, false, false, TASK_FAILED, "Command exited", None),
            (
                Signal(15),
                false,
                true,
                TASK_KILLED,
                "Command terminated with signal Terminated",
                None,
            ),
            (
                Code(0),
                false,
                true,
                TASK_KILLED,
                "Command exited with status 0",
                None,
            ),
            (
                Exited,
                false,
                true,
                TASK_KILLED,
                "Command exited with status -1",
                None,
            ),
            (
                Signal(9),
                true,
                false,
                TASK_FAILED,
                "Memory limit exceeded: the task was OOM-killed",
                Some(REASON_CONTAINER_LIMITATION_MEMORY),
            ),
            (
                Signal(9),
                true,
                true,
                TASK_FAILED,
                "Memory limit exceeded: the task was OOM-killed",
                Some(REASON_CONTAINER_LIMITATION_MEMORY),
            ),
            (
                Lost,
                false,
                false,
                TASK_FAILED,
                "Lost track of the task's process",
                Some(REASON_EXECUTOR_TERMINATED),
            ),
            (
                Lost,
                false,
                true,
                TASK_FAILED,
                "Lost track of the task's process",
                Some(REASON_EXECUTOR_TERMINATED),
            ),
            (
                Unobserved,
                false,
                false,
                TASK_FAILED,
                "Task exited after the agent restarted; its exit status could not be observed",
                Some(REASON_EXECUTOR_TERMINATED),
            ),
            (
                Unobserved,
                false,
                true,
                TASK_KILLED,
                "Command terminated after a kill request",
                None,
            ),
        ];
        for (end, oom, killed, state, message, reason) in table {
            let why = format!("{end:?} oom={oom} killed={killed}");
            assert_eq!(
                says(Kind::Process, exit(end, oom), killed),
                (state, message.to_string(), reason),
                "{why}"
            );
        }
    }

    #[test]
    fn a_containers_end_in_the_docker_executors_words() {
        use End::*;
        assert_eq!(
            says(Kind::Docker, exit(Code(0), false), false),
            (TASK_FINISHED, "Container exited with status 0".into(), None)
        );
        assert_eq!(
            says(Kind::Docker, exit(Code(3), false), false),
            (TASK_FAILED, "Container exited with status 3".into(), None)
        );
        assert_eq!(
            says(Kind::Docker, exit(Code(137), false), true),
            (TASK_KILLED, "Container exited with status 137".into(), None)
        );
        let (s, m, r) = says(Kind::Docker, exit(Code(137), true), false);
        assert_eq!(
            (s, r),
            (TASK_FAILED, Some(REASON_CONTAINER_LIMITATION_MEMORY))
        );
        assert_eq!(
            m,
            "Memory limit exceeded: the container was OOM-killed (Container exited with status 137)"
        );
        let failed = Exit {
            end: Code(127),
            oom: false,
            error: Some("exec: \"nope\": executable file not found".into()),
        };
        assert_eq!(
            says(Kind::Docker, failed, false).1,
            "Container exited with status 127: exec: \"nope\": executable file not found"
        );
        assert_eq!(
            says(Kind::Docker, exit(Vanished, false), false),
            (
                TASK_FAILED,
                "Container was removed outside the agent".into(),
                Some(REASON_EXECUTOR_TERMINATED)
            )
        );
        assert_eq!(
            says(Kind::Docker, exit(Vanished, false), true),
            (
                TASK_KILLED,
                "Container was removed after a kill request".into(),
                None
            )
        );
    }
}
