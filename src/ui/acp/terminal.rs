//! Commands in the editor's terminal (`cairn acp --editor-terminal`, for a client that
//! offers `terminal`): the core's `RunCommand` becomes `terminal/create`; the terminal is
//! shown in the tool call at once, so the user watches it live; then `wait_for_exit`,
//! `output` and `release`, and the core gets the output and exit status. `KillCommand`
//! (an interrupt, a timeout) becomes `terminal/kill`.

use serde_json::{Value, json};

use super::{Asked, Bridge};
use crate::protocol::Op;

/// Where a command in the editor's terminal is.
pub enum Stage {
    Creating,
    Running { terminal: String },
    Reading { terminal: String, exit: Value },
}

/// The core's request `host_id` for call `call_id`, at `stage`.
pub struct Run {
    pub session: String,
    pub host_id: String,
    pub call_id: String,
    pub stage: Stage,
}

impl Bridge {
    pub(super) fn run_command(
        &mut self,
        session: &str,
        host_id: String,
        call_id: String,
        (launcher, command): (&[String], &str),
        cwd: &str,
        env: &[(String, String)],
    ) {
        let conn = self.sessions.get(session).and_then(|l| l.conn);
        let Some(conn) = conn.filter(|c| self.conns.get(c).is_some_and(|c| c.terminal)) else {
            // No editor with a terminal shows the session now: cairn runs it itself.
            return self.answer_host(session, host_id, Err(crate::protocol::NOT_HANDLED.into()));
        };
        let env: Vec<Value> = env.iter().map(|(name, value)| json!({"name": name, "value": value})).collect();
        let mut argv: Vec<&str> = launcher.iter().map(String::as_str).collect();
        argv.extend(["bash", "-c", command]);
        let params = json!({"sessionId": session, "command": argv[0], "args": &argv[1..], "env": env,
                            "cwd": cwd, "outputByteLimit": 1_048_576});
        let run = Run { session: session.to_owned(), host_id, call_id, stage: Stage::Creating };
        self.ask(conn, "terminal/create", params, Asked::Terminal(run));
    }

    pub(super) fn kill_command(&mut self, session: &str, host_id: String, call_id: &str) {
        let found = self.sessions.get(session).and_then(|l| Some((l.conn?, l.terminals.get(call_id)?.clone())));
        match found {
            Some((conn, terminal)) => {
                self.ask(conn, "terminal/kill", json!({"sessionId": session, "terminalId": terminal}), Asked::Nothing);
            }
            // Still being created: killed as soon as it is.
            None => {
                if let Some(live) = self.sessions.get_mut(session) {
                    live.doomed.insert(call_id.to_owned());
                }
            }
        }
        self.answer_host(session, host_id, Ok(json!({})));
    }

    /// The client's answer at one stage: the next request, or the core's answer.
    pub(super) fn terminal_step(&mut self, mut run: Run, message: &Value) {
        let result = match (message.get("result"), message.get("error")) {
            (Some(result), _) => result.clone(),
            (None, error) => {
                let why = error.and_then(|e| e["message"].as_str()).unwrap_or("the editor did not answer");
                return self.answer_host(&run.session, run.host_id, Err(why.to_owned()));
            }
        };
        let Some(conn) = self.sessions.get(&run.session).and_then(|l| l.conn) else {
            return self.answer_host(&run.session, run.host_id, Err("the editor went away".into()));
        };
        let session = run.session.clone();
        match run.stage {
            Stage::Creating => {
                let terminal = result["terminalId"].as_str().unwrap_or_default().to_owned();
                let doomed = self.sessions.get_mut(&session).is_some_and(|l| l.doomed.remove(&run.call_id));
                if doomed {
                    let params = json!({"sessionId": session, "terminalId": terminal});
                    self.ask(conn, "terminal/kill", params.clone(), Asked::Nothing);
                    self.ask(conn, "terminal/release", params, Asked::Nothing);
                    return self.answer_host(&session, run.host_id, Err("interrupted".into()));
                }
                if let Some(live) = self.sessions.get_mut(&session) {
                    live.terminals.insert(run.call_id.clone(), terminal.clone());
                }
                let shown = json!({"sessionUpdate": "tool_call_update", "toolCallId": run.call_id,
                                   "content": [{"type": "terminal", "terminalId": terminal}]});
                self.update(&session, shown);
                let params = json!({"sessionId": session, "terminalId": terminal});
                run.stage = Stage::Running { terminal };
                self.ask(conn, "terminal/wait_for_exit", params, Asked::Terminal(run));
            }
            Stage::Running { terminal } => {
                let params = json!({"sessionId": session, "terminalId": terminal});
                run.stage = Stage::Reading { terminal, exit: result };
                self.ask(conn, "terminal/output", params, Asked::Terminal(run));
            }
            Stage::Reading { terminal, exit } => {
                let ran = json!({"output": result["output"], "truncated": result["truncated"],
                                 "exitCode": exit["exitCode"], "signal": exit["signal"]});
                self.answer_host(&session, run.host_id, Ok(ran));
                self.ask(
                    conn,
                    "terminal/release",
                    json!({"sessionId": session, "terminalId": terminal}),
                    Asked::Nothing,
                );
            }
        }
    }

    pub(super) fn answer_host(&self, session: &str, id: String, answer: Result<Value, String>) {
        if let Some(live) = self.sessions.get(session) {
            live.send(Op::HostAnswer { id, answer });
        }
    }
}
