//! `agent-cli-to-api login claude`: the OAuth authorization-code flow with
//! PKCE, as Claude Code runs it. It prints the authorization URL, reads the
//! code the page shows (`code#state`) from standard input, exchanges it at
//! the token endpoint and saves the login where the `claude-oauth` preset
//! reads it: Claude Code's credentials file, its `claudeAiOauth` entry
//! replaced and every other field kept, written at once with mode 0600.

use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::cli::LoginArgs;
use crate::engine::http::{token_answer, write_private};

/// Where the authorization page sends the code, for the user to paste.
const REDIRECT_URI: &str = "https://console.anthropic.com/oauth/code/callback";
/// What the login may do: use the subscription, read the profile.
const SCOPES: &str = "org:create_api_key user:profile user:inference";
/// The longest wait for the token endpoint.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the flow; the exit code says whether the login was saved.
pub async fn login(args: &LoginArgs) -> ExitCode {
    match run(args).await {
        Ok(path) => {
            println!("Logged in. Saved to {} (mode 0600).", path.display());
            println!("Serve it with: agent-cli-to-api --preset claude-oauth");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("login failed: {why}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &LoginArgs) -> Result<PathBuf, String> {
    let path = match &args.file {
        Some(file) => file.clone(),
        None => {
            let home =
                std::env::var_os("HOME").ok_or("HOME is not set: name the file with --file")?;
            PathBuf::from(home).join(".claude/.credentials.json")
        }
    };
    let verifier = random_text()?;
    let state = random_text()?;
    let challenge =
        base64url(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref());
    let mut url = reqwest::Url::parse(&args.authorize_url)
        .map_err(|e| format!("--authorize-url {:?}: {e}", args.authorize_url))?;
    url.query_pairs_mut()
        .append_pair("code", "true")
        .append_pair("client_id", &args.client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("scope", SCOPES)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", &state);
    println!("Open this page, log in with your Claude account and authorize:\n\n{url}\n");
    println!("Then paste the code it shows here and press Enter:");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the code: {e}"))?;
    let pasted = line.trim();
    let (code, pasted_state) = pasted.split_once('#').unwrap_or((pasted, state.as_str()));
    if code.is_empty() {
        return Err("no code was pasted".into());
    }
    if pasted_state != state {
        return Err(
            "the pasted code belongs to another login attempt (its state differs); start again"
                .into(),
        );
    }
    let body = json!({
        "grant_type": "authorization_code",
        "code": code,
        "state": state,
        "client_id": args.client_id,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    });
    let client = reqwest::Client::builder()
        .timeout(EXCHANGE_TIMEOUT)
        .build()
        .map_err(|e| format!("no HTTP client: {e}"))?;
    let request = client
        .post(&args.token_url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string());
    let answer = token_answer(request, &args.token_url)
        .await
        .map_err(|why| format!("the token endpoint refused the code: {why}"))?;
    let text = |key: &str| {
        answer
            .get(key)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
    };
    let (Some(access), Some(refresh)) = (text("access_token"), text("refresh_token")) else {
        return Err("the token endpoint answered without an access and a refresh token".into());
    };
    let expires_in = answer
        .get("expires_in")
        .and_then(Value::as_u64)
        .unwrap_or(3600);
    let expires_at = SystemTime::now() + Duration::from_secs(expires_in);
    let expires_ms = expires_at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let scopes: Vec<&str> = text("scope").unwrap_or(SCOPES).split_whitespace().collect();
    let mut file = match std::fs::read_to_string(&path) {
        Ok(existing) => serde_json::from_str::<Value>(&existing)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| format!("{} is not a JSON object: not overwritten", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({}),
        Err(e) => {
            return Err(format!(
                "cannot read {} ({e}): not overwritten",
                path.display()
            ));
        }
    };
    file["claudeAiOauth"] = json!({"accessToken": access, "refreshToken": refresh,
                                   "expiresAt": expires_ms, "scopes": scopes});
    write_private(&path, &file).map_err(|e| format!("cannot save {}: {e}", path.display()))?;
    Ok(path)
}

/// 32 random bytes, as base64url text (43 characters, as PKCE wants).
fn random_text() -> Result<String, String> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "no secure randomness".to_owned())?;
    Ok(base64url(&bytes))
}

fn base64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
