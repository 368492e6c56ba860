//! Browser bindings for `editor-core` (work in progress).
