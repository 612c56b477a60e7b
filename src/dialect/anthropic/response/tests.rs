//! Events into Messages answers.
