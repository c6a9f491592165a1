//! HTTP server of chroma-rs speaking Chroma's API v1 and v2 for every official client line.
