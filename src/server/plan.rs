//! What a CLI is given for one request: the flattened prompt, images as
//! files, effort, session and route variables, checked against what the
//! backend's template can take. Anything it cannot take is refused (400/413)
//! or reported as ignored, never dropped silently.

use crate::backend::{Backend, CliBackend};
use crate::config::Config;
use crate::engine::RunRequest;
use crate::error::Error;
use crate::prompt;
use crate::routes::Resolved;
use crate::turn::{Image, Message, Turn};

/// Turns the request into what the CLI is given, refusing what it cannot
/// take. The images' bytes move out of `turn` into the run.
pub(super) fn plan(
    config: &Config,
    resolved: &Resolved,
    turn: &mut Turn,
    request_id: &str,
) -> Result<RunRequest, Error> {
    let Backend::Cli(cli) = &resolved.backend;
    let resume = turn.session.is_some() && cli.takes_session();
    // A resumed session already holds the earlier messages and their images.
    let first_new = if resume {
        prompt::first_new_message(turn)
    } else {
        0
    };
    let prompt = prompt::flatten(
        turn,
        prompt::Options {
            separate_system: cli.takes_system(),
            first_new,
        },
    );
    let chars =
        prompt.text.chars().count() + prompt.system.as_ref().map_or(0, |s| s.chars().count());
    if chars > config.settings.max_prompt_chars {
        return Err(Error::TooLarge(format!(
            "the prompt is {chars} characters; the limit is {} (server.max_prompt_chars)",
            config.settings.max_prompt_chars
        )));
    }
    if prompt.text.is_empty() {
        return Err(Error::InvalidRequest(
            "the messages contain no text to send".into(),
        ));
    }
    let images = images(config, cli, &mut turn.messages[first_new..])?;
    Ok(RunRequest {
        request_id: request_id.to_owned(),
        model: resolved.model.clone(),
        prompt,
        effort: config
            .settings
            .force_effort
            .or(turn.effort)
            .or(cli.default_effort),
        session: turn.session.clone().filter(|_| resume),
        images,
        vars: resolved.vars.clone(),
    })
}

fn images(
    config: &Config,
    cli: &CliBackend,
    messages: &mut [Message],
) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let images: Vec<&mut Image> = messages.iter_mut().flat_map(Message::images_mut).collect();
    if images.is_empty() {
        return Ok(Vec::new());
    }
    let limits = config.settings.images;
    if !limits.enabled {
        return Err(Error::InvalidRequest(
            "image input is disabled on this gateway (server.images = false)".into(),
        ));
    }
    if !cli.takes_images() {
        return Err(Error::InvalidRequest(format!(
            "backend `{}` cannot take images; send text only, or use a model routed to a backend that takes images (e.g. codex)",
            cli.name
        )));
    }
    if images.len() > limits.max_count {
        return Err(Error::InvalidRequest(format!(
            "{} images sent; the limit is {} (server.max_images)",
            images.len(),
            limits.max_count
        )));
    }
    images
        .into_iter()
        .map(|image| match image {
            Image::Inline { media_type, data } if data.len() > limits.max_bytes => {
                Err(Error::TooLarge(format!(
                    "an image is {} bytes; the limit is {} (server.max_image_bytes)",
                    data.len(),
                    limits.max_bytes
                )))
            }
            Image::Inline { media_type, data } => {
                Ok((std::mem::take(media_type), std::mem::take(data)))
            }
            Image::Url(_) => Err(Error::InvalidRequest(
                "remote image URLs are not fetched by this gateway: send the image as a data: URI"
                    .into(),
            )),
        })
        .collect()
}

/// Request features this backend's template has no place for: reported as
/// ignored, like unsupported parameters.
pub(super) fn unsupported(turn: &Turn, backend: &Backend) -> Vec<String> {
    let Backend::Cli(cli) = backend;
    let mut names = Vec::new();
    if turn.session.is_some() && !cli.takes_session() {
        names.push("session_id".to_owned());
    }
    if turn.effort.is_some() && !cli.takes_effort() {
        names.push("reasoning_effort".to_owned());
    }
    names
}
