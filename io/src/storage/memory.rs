//! in-memory storage (being written)
