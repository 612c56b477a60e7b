//! Events into Gemini answers.
