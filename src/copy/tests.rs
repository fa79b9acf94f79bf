//! The engine against in-memory test doubles of a source and a destination.
