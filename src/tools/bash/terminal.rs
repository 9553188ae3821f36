//! A command run in the editor's terminal instead of cairn's own shell, when the user asked
//! for it (`cairn acp --editor-terminal`) and the editor offers terminals: the user watches
//! it live in the editor, and the model gets its output and exit status as usual. The
//! timeout and an interrupt stop it there. The shell's folder does not carry over from one
//! call to the next in this mode (each command starts in the session's folder).

use std::time::Duration;

use serde_json::Value;

use crate::conversation::ToolOutput;
use crate::protocol::HostRequest;
use crate::sandbox::Mode;
use crate::tools::{ToolContext, ToolError};

/// Runs `command` in the host's terminal; `None` when commands are not routed there.
/// Sandboxed, the terminal runs the sandbox's launcher, which starts bash.
pub(super) async fn run(
    ctx: &ToolContext,
    command: &str,
    timeout: Duration,
    mode: &Mode,
) -> Option<Result<ToolOutput, ToolError>> {
    let session = &ctx.session;
    let mut env = session.env.clone();
    let launcher = match (mode, session.sandbox()) {
        (Mode::Sandboxed(policy), Some(sandbox)) => {
            env.extend(super::proxy_env(policy));
            let (program, args) = sandbox.launcher_command(policy);
            std::iter::once(program.display().to_string()).chain(args).collect()
        }
        _ => Vec::new(),
    };
    let request = HostRequest::RunCommand {
        call_id: ctx.call_id.clone(),
        command: command.to_owned(),
        cwd: session.cwd(),
        env,
        launcher,
    };
    let answer = session.ask_terminal(request)?;
    let kill = || session.ask_terminal(HostRequest::KillCommand { call_id: ctx.call_id.clone() });
    let answer = tokio::select! {
        answer = answer => answer,
        () = tokio::time::sleep(timeout) => {
            drop(kill());
            return Some(Ok(ToolOutput::error(format!(
                "Command timed out after {} s and was stopped in the editor's terminal.",
                timeout.as_secs_f64()
            ))));
        }
        () = ctx.cancel.cancelled() => {
            drop(kill());
            return Some(Err(ToolError::Interrupted));
        }
    };
    Some(match answer {
        Err(e) if e == crate::protocol::NOT_HANDLED => return None,
        Ok(ran) => Ok(report(&ran)),
        Err(e) => Err(ToolError::Failed(format!("The editor's terminal could not run the command: {e}"))),
    })
}

/// The most output the model is given.
const MAX_CHARS: usize = 30_000;

/// What the model is told: the output, and how the command ended.
fn report(ran: &Value) -> ToolOutput {
    let body = ran["output"].as_str().unwrap_or_default().trim_end_matches('\n');
    // As much as cairn's own shell gives the model: the end, where the outcome is.
    let body = match body.char_indices().rev().nth(MAX_CHARS) {
        Some((cut, _)) => format!("[… the first part of the output was left out …]\n{}", &body[cut..]),
        None => body.to_owned(),
    };
    let mut text = match (ran["exitCode"].as_i64(), ran["signal"].as_str()) {
        (Some(0), _) if body.is_empty() => "(no output)".to_owned(),
        (Some(0), _) => body.to_owned(),
        (Some(code), _) => format!("Exit code {code}\n{body}"),
        (None, Some(signal)) => format!("Killed by signal {signal}\n{body}"),
        (None, None) => format!("The command ended without an exit status\n{body}"),
    };
    if ran["truncated"] == true {
        text.push_str("\n(The editor kept only the end of the output.)");
    }
    let mut output = ToolOutput::text(text);
    output.is_error = ran["exitCode"].as_i64() != Some(0);
    output
}
