//! Identity use cases against a real store (both backends); the HTTP and browser flows are
//! tested in their own modules.
