//! Integration tests of the HTTP shell, driven in-process through the router (`oneshot`)
//! against a toy "notes" domain; one module binds a real socket to test `serve`.

mod auth;
mod common;
mod domain_api;
mod get_events;
mod gui;
mod limits;
mod lists;
mod openapi;
mod panics;
mod put_events;
mod serve;
mod shell;
