//! Whether to colour what goes to the terminal: only on a terminal, never with NO_COLOR.

use std::io::IsTerminal;

pub fn color_stdout() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

pub fn color_stderr() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}
