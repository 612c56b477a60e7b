//! What a CLI is given for one request: the flattened prompt, images as
//! files, effort, session and route variables, checked against what the
//! backend's template can take. Anything it cannot take is refused (400/413)
//! or reported as ignored, never dropped silently.

use super::RunRequest;
use super::prompt;
use crate::engine::RequestLimits;
use crate::error::Error;
use crate::routes::Resolved;
use crate::turn::{Image, Message, Turn};

/// Turns the request into what the CLI is given, refusing what it cannot
/// take. The images' bytes move out of `turn` into the run.
pub(crate) fn plan(
    limits: &RequestLimits,
    resolved: &Resolved,
    turn: &mut Turn,
    request_id: &str,
) -> Result<RunRequest, Error> {
    let capabilities = resolved.backend.capabilities;
    let resume = turn.session.is_some() && capabilities.sessions;
    // A resumed session already holds the earlier messages and their images.
    let first_new = if resume { turn.first_new_message() } else { 0 };
    let prompt = prompt::flatten(
        turn,
        prompt::Options {
            separate_system: capabilities.system,
            first_new,
        },
    );
    let chars =
        prompt.text.chars().count() + prompt.system.as_ref().map_or(0, |s| s.chars().count());
    if chars > limits.max_prompt_chars {
        return Err(Error::TooLarge(format!(
            "the prompt is {chars} characters; the limit is {} (server.max_prompt_chars)",
            limits.max_prompt_chars
        )));
    }
    if prompt.text.is_empty() {
        return Err(Error::InvalidRequest(
            "the messages contain no text to send".into(),
        ));
    }
    let images = images(limits, &mut turn.messages[first_new..])?;
    Ok(RunRequest {
        request_id: request_id.to_owned(),
        model: resolved.model.clone(),
        prompt,
        effort: limits
            .force_effort
            .or(turn.effort)
            .or(resolved.backend.default_effort),
        session: turn.session.clone().filter(|_| resume),
        images,
        vars: resolved.vars.clone(),
    })
}

fn images(
    limits: &RequestLimits,
    messages: &mut [Message],
) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let images: Vec<&mut Image> = messages.iter_mut().flat_map(Message::images_mut).collect();
    if images.is_empty() {
        return Ok(Vec::new());
    }
    let limits = limits.images;
    if !limits.enabled {
        return Err(Error::InvalidRequest(
            "image input is disabled on this gateway (server.images = false)".into(),
        ));
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
