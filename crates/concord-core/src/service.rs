//! How a domain declares a service: its name, catalogue, default acceptance, and the
//! commands and queries of its API — as plain data and functions, with no HTTP in sight.
//!
//! The HTTP shell (`concord-http`) turns an [`Api`] into routes; the simulator calls the same
//! functions directly. A command handler only parses its input and decides which events to
//! raise (R1); a query handler only reads the model; the optional view describes the
//! service's GUI as data ([`crate::ui`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::acceptance::AcceptancePolicy;
use crate::model::Model;
use crate::runtime::{Catalogue, Command, CommandError, EventDraft};
use crate::ui::View;

/// Everything the framework needs to know to run one service of a domain.
pub trait ServiceSpec: Send + Sync + 'static {
    type Model: Model;

    /// The service name: the CloudEvents `source` of every event it raises.
    fn name(&self) -> &str;

    /// The event types this service understands.
    fn catalogue(&self) -> Box<dyn Catalogue>;

    /// Which external events it takes unless its configuration says otherwise.
    fn default_acceptance(&self) -> AcceptancePolicy;

    /// Its commands and queries.
    fn api(&self) -> Api<Self::Model>;
}

/// Path parameters (`{id}` in a route's path) by name.
pub type Params = BTreeMap<String, String>;

pub type CommandHandler<M> =
    Arc<dyn Fn(&Params, Value) -> Result<Command<M>, CommandError> + Send + Sync>;
pub type QueryHandler<M> = Arc<dyn Fn(&M, &Params) -> Result<Value, CommandError> + Send + Sync>;

/// What a route does.
pub enum Handler<M> {
    /// `POST`: a JSON body in, events raised through the one path.
    Command(CommandHandler<M>),
    /// `GET`: the model read, JSON out.
    Query(QueryHandler<M>),
}

impl<M> Clone for Handler<M> {
    fn clone(&self) -> Self {
        match self {
            Handler::Command(h) => Handler::Command(Arc::clone(h)),
            Handler::Query(h) => Handler::Query(Arc::clone(h)),
        }
    }
}

/// One command or query of a service's API.
pub struct Route<M> {
    /// Path with `{name}` placeholders, e.g. `/api/students/{studentId}`.
    pub path: &'static str,
    /// One line for the API documentation.
    pub summary: &'static str,
    /// A JSON Schema of the request body (commands) or the answer (queries), for the
    /// OpenAPI document.
    pub schema: Value,
    pub handler: Handler<M>,
}

impl<M> Clone for Route<M> {
    fn clone(&self) -> Self {
        Route {
            path: self.path,
            summary: self.summary,
            schema: self.schema.clone(),
            handler: self.handler.clone(),
        }
    }
}

impl<M> Route<M> {
    pub fn method(&self) -> &'static str {
        match self.handler {
            Handler::Command(_) => "POST",
            Handler::Query(_) => "GET",
        }
    }
}

/// The commands and queries of one service, and optionally its page.
pub struct Api<M> {
    pub routes: Vec<Route<M>>,
    /// What the service's GUI shows, as data ([`View`]); the HTTP shell renders it at `GET /`
    /// and runs its forms through `routes`.
    pub view: Option<fn(&M) -> View>,
}

impl<M> Clone for Api<M> {
    fn clone(&self) -> Self {
        Api {
            routes: self.routes.clone(),
            view: self.view,
        }
    }
}

impl<M: Model> Default for Api<M> {
    fn default() -> Self {
        Api {
            routes: Vec::new(),
            view: None,
        }
    }
}

impl<M: Model> Api<M> {
    pub fn new() -> Self {
        Self::default()
    }

    /// A command: the body is deserialized into `I` (a 400 with serde's message if it does
    /// not fit), then `decide` reads the model and returns the events to raise.
    pub fn command<I>(
        mut self,
        path: &'static str,
        summary: &'static str,
        schema: Value,
        decide: fn(&M, &Params, I) -> Result<Vec<EventDraft>, CommandError>,
    ) -> Self
    where
        I: DeserializeOwned + Send + 'static,
    {
        let handler: CommandHandler<M> = Arc::new(move |params: &Params, body: Value| {
            let input: I = serde_json::from_value(body)
                .map_err(|e| CommandError::Invalid(format!("invalid request body: {e}")))?;
            let params = params.clone();
            let command: Command<M> = Box::new(move |model: &M| decide(model, &params, input));
            Ok(command)
        });
        self.routes.push(Route {
            path,
            summary,
            schema,
            handler: Handler::Command(handler),
        });
        self
    }

    /// A query: reads the model and answers JSON.
    pub fn query<O>(
        mut self,
        path: &'static str,
        summary: &'static str,
        schema: Value,
        read: fn(&M, &Params) -> Result<O, CommandError>,
    ) -> Self
    where
        O: Serialize + 'static,
    {
        let handler: QueryHandler<M> = Arc::new(move |model: &M, params: &Params| {
            let answer = read(model, params)?;
            serde_json::to_value(answer)
                .map_err(|e| CommandError::Invalid(format!("answer does not serialize: {e}")))
        });
        self.routes.push(Route {
            path,
            summary,
            schema,
            handler: Handler::Query(handler),
        });
        self
    }

    /// The service's page: `view(model)` is what its GUI shows.
    pub fn view(mut self, view: fn(&M) -> View) -> Self {
        self.view = Some(view);
        self
    }

    /// Finds the route for a method and a concrete path, with its path parameters.
    pub fn route(&self, method: &str, path: &str) -> Option<(&Route<M>, Params)> {
        self.routes
            .iter()
            .filter(|r| r.method() == method)
            .find_map(|r| match_path(r.path, path).map(|params| (r, params)))
    }
}

/// Matches a concrete path against a pattern with `{name}` segments.
pub fn match_path(pattern: &str, path: &str) -> Option<Params> {
    let mut params = Params::new();
    let mut pattern_parts = pattern.trim_matches('/').split('/');
    let mut path_parts = path.trim_matches('/').split('/');
    loop {
        match (pattern_parts.next(), path_parts.next()) {
            (None, None) => return Some(params),
            (Some(p), Some(actual)) => {
                if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    if actual.is_empty() {
                        return None;
                    }
                    params.insert(name.to_owned(), actual.to_owned());
                } else if p != actual {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_patterns_bind_their_parameters() {
        let params = match_path(
            "/api/assignments/{assignmentId}/scores",
            "/api/assignments/a1/scores",
        )
        .unwrap();
        assert_eq!(params["assignmentId"], "a1");
        assert!(match_path("/api/students/{id}", "/api/students").is_none());
        assert!(match_path("/api/students/{id}", "/api/students/x/y").is_none());
        assert!(match_path("/api/students", "/api/students")
            .unwrap()
            .is_empty());
    }
}
