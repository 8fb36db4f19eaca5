//! How a domain declares a service: its name, catalogue, default acceptance, and the
//! commands and queries of its API — as plain data and functions, with no HTTP in sight.
//!
//! The HTTP shell (`concord-http`) turns an [`Api`] into routes; the simulator calls the same
//! functions directly. A command handler only parses its input and decides which events to
//! raise (R1); a query handler only reads the model — a list one page at a time
//! ([`crate::list`]); the optional view describes the service's GUI as data ([`crate::ui`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::acceptance::AcceptancePolicy;
use crate::list::{Cursor, ListError, ListQuery, Page};
use crate::model::Model;
use crate::runtime::{Command, CommandError, EventDraft, SharedCatalogue};
use crate::ui::{PageQuery, View};

/// Everything the framework needs to know to run one service of a domain.
pub trait ServiceSpec: Send + Sync + 'static {
    type Model: Model;

    /// The service name: the CloudEvents `source` of every event it raises.
    fn name(&self) -> &str;

    /// The event types this service understands.
    fn catalogue(&self) -> SharedCatalogue<Self::Model>;

    /// Which external events it takes unless its configuration says otherwise.
    fn default_acceptance(&self) -> AcceptancePolicy;

    /// Its commands and queries.
    fn api(&self) -> Api<Self::Model>;
}

/// Path parameters (`{id}` in a route's path) by name.
pub type Params = BTreeMap<String, String>;

pub type CommandHandler<M> =
    Arc<dyn Fn(&Params, Value) -> Result<Command<M>, CommandError> + Send + Sync>;
/// Reads one answer (an object, or anything that is not a list) from the model.
pub type OneHandler<M> = Arc<dyn Fn(&M, &Params) -> Result<Value, CommandError> + Send + Sync>;
/// Reads one page of a list from the model.
pub type ListHandler<M> =
    Arc<dyn Fn(&M, &Params, &ListQuery) -> Result<Page<Value>, CommandError> + Send + Sync>;

/// What a route does.
pub enum Handler<M> {
    /// `POST`: a JSON body in, events raised through the one path.
    Command(CommandHandler<M>),
    /// `GET`: the model read, JSON out.
    Query(Query<M>),
}

impl<M> Clone for Handler<M> {
    fn clone(&self) -> Self {
        match self {
            Handler::Command(h) => Handler::Command(Arc::clone(h)),
            Handler::Query(q) => Handler::Query(q.clone()),
        }
    }
}

/// A `GET` route: one answer, or a list read a page at a time ([`crate::list`]).
pub enum Query<M> {
    One(OneHandler<M>),
    List(ListHandler<M>),
}

impl<M> Clone for Query<M> {
    fn clone(&self) -> Self {
        match self {
            Query::One(h) => Query::One(Arc::clone(h)),
            Query::List(h) => Query::List(Arc::clone(h)),
        }
    }
}

/// What a query answers: its JSON, and for a list where the neighbouring pages start.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub body: Value,
    pub pages: Option<PageLinks>,
}

/// The pages next to a list's answer, and the query that asked for it (links repeat it).
#[derive(Clone, Debug, PartialEq)]
pub struct PageLinks {
    pub query: ListQuery,
    pub next: Option<Cursor>,
    pub prev: Option<Cursor>,
}

/// Why a query was not answered.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// A list's query parameters are wrong (400 naming the parameter).
    #[error(transparent)]
    List(#[from] ListError),
    #[error(transparent)]
    Command(#[from] CommandError),
}

impl<M> Query<M> {
    pub fn is_list(&self) -> bool {
        matches!(self, Query::List(_))
    }

    /// Answers from `model`, given the path parameters and the decoded query parameters.
    /// A single-object query ignores the latter; a list reads its page from them, strictly
    /// ([`ListQuery::from_pairs`]).
    pub fn run<'a>(
        &self,
        model: &M,
        params: &Params,
        query: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Answer, QueryError> {
        match self {
            Query::One(handler) => Ok(Answer {
                body: handler(model, params)?,
                pages: None,
            }),
            Query::List(handler) => {
                let list = ListQuery::from_pairs(query)?;
                let page = handler(model, params, &list)?;
                Ok(Answer {
                    body: Value::Array(page.items),
                    pages: Some(PageLinks {
                        query: list,
                        next: page.next,
                        prev: page.prev,
                    }),
                })
            }
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

/// Builds a service's page from its model and what the page was asked for (each paged
/// table's search and position).
pub type ViewFn<M> = fn(&M, &PageQuery) -> View;

/// The commands and queries of one service, and optionally its page.
pub struct Api<M> {
    pub routes: Vec<Route<M>>,
    /// What the service's GUI shows, as data ([`View`]); the HTTP shell renders it at `GET /`
    /// and runs its forms through `routes`.
    pub view: Option<ViewFn<M>>,
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

    /// A query: reads the model and answers JSON. For a list, use [`Api::list`].
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
        let handler: OneHandler<M> =
            Arc::new(move |model: &M, params: &Params| to_json(read(model, params)?));
        self.routes.push(Route {
            path,
            summary,
            schema,
            handler: Handler::Query(Query::One(handler)),
        });
        self
    }

    /// A list: `read` answers the page a [`ListQuery`] asks for (usually with
    /// [`ListQuery::page`] over one of the model's ordered maps); the shell answers its items
    /// as a JSON array with a `Link` header to the next page. `item_schema` describes one
    /// item; the route's schema is an array of them.
    pub fn list<O>(
        mut self,
        path: &'static str,
        summary: &'static str,
        item_schema: Value,
        read: fn(&M, &Params, &ListQuery) -> Result<Page<O>, CommandError>,
    ) -> Self
    where
        O: Serialize + 'static,
    {
        let handler: ListHandler<M> = Arc::new(move |model: &M, params: &Params, list| {
            let page = read(model, params, list)?;
            let items = page
                .items
                .iter()
                .map(to_json)
                .collect::<Result<Vec<Value>, CommandError>>()?;
            Ok(Page {
                items,
                next: page.next,
                prev: page.prev,
                examined: page.examined,
            })
        });
        self.routes.push(Route {
            path,
            summary,
            schema: serde_json::json!({"type": "array", "items": item_schema}),
            handler: Handler::Query(Query::List(handler)),
        });
        self
    }

    /// The service's page: `view(model, page_query)` is what its GUI shows.
    pub fn view(mut self, view: ViewFn<M>) -> Self {
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

fn to_json<O: Serialize>(answer: O) -> Result<Value, CommandError> {
    serde_json::to_value(answer)
        .map_err(|e| CommandError::Invalid(format!("answer does not serialize: {e}")))
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
