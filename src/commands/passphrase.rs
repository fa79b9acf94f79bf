//! Passphrases for signing keys, as skopeo gets them: the first line of a file
//! (`--sign-passphrase-file`, `--passphrase-file`), or a prompt on the terminal with
//! echo off; never from a pipe.

use std::io::BufRead;
use std::path::Path;

use super::CommandError;
use crate::report;

/// c/image's `cli.ReadPassphraseFile`: the first line, without its newline.
pub fn read_passphrase_file(path: &Path) -> Result<String, CommandError> {
    crate::signature::sigstore::signer::read_passphrase_file(path).map_err(CommandError::Invalid)
}

/// skopeo's `promptForPassphrase`. The prompt goes to stderr (skopeo: stdout), so stdout
/// only ever carries what a command was asked to print.
pub fn prompt_for_passphrase(key_file: &Path) -> Result<String, String> {
    // SAFETY: isatty only inspects the descriptor.
    if unsafe { libc::isatty(0) } != 1 {
        return Err(format!(
            "Cannot prompt for a passphrase for key {}, standard input is not a TTY",
            key_file.display()
        ));
    }
    let prompt = format!("Passphrase for key {}: ", key_file.display());
    let line = read_hidden_line(&prompt).map_err(|e| format!("Error reading password: {e}"))?;
    report::status("");
    Ok(line)
}

/// Shows `prompt` and reads one line from the terminal on stdin with echo off. Echo goes
/// off before the prompt appears, so an answer typed at once is not shown either.
pub(crate) fn read_hidden_line(prompt: &str) -> std::io::Result<String> {
    // SAFETY: tcgetattr/tcsetattr on fd 0 with a zeroed, then filled, termios struct.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(0, &mut saved) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    // SAFETY: as above.
    unsafe { libc::tcsetattr(0, libc::TCSANOW, &quiet) };
    report::prompt(prompt);
    let mut line = String::new();
    let result = std::io::stdin().lock().read_line(&mut line);
    // SAFETY: restores the saved settings.
    unsafe { libc::tcsetattr(0, libc::TCSANOW, &saved) };
    result?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
