//! Keys of requests: where each part comes from ([`Extractor`]), bearer tokens
//! ([`JwtVerifier`]), and composite templates ([`KeyTemplate`]) that turn a request into a
//! descriptor.

mod extract;
mod jwt;
mod template;

pub use extract::{ExtractContext, Extractor};
pub use jwt::JwtVerifier;
pub use template::{KeyTemplate, flat_key};
