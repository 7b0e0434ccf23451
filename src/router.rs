//! Route tables of the gateway's own endpoints: one row per resource — its name on the access
//! line, its path pattern, and a handler per method. Paths are matched by `matchit`; a 405 and
//! its `Allow` come from the row, so a table cannot list a path in one place and its methods in
//! another.
//!
//! The client API (`client_api::routes`) and the admin API (`admin::routes`) each build one
//! table at first use; the handler type is theirs.

use futures_util::future::BoxFuture;
use http::{Method, Request, Response};
use hyper::body::Incoming;

use crate::error::ApiError;
use crate::web::{Body, RequestContext};

/// What a row of a table runs for one method: the call in, the answer out. `S` is the
/// listener's state.
pub type Handler<S> = for<'a> fn(Call<'a, S>) -> BoxFuture<'a, Result<Response<Body>, ApiError>>;

/// A routed request, as a handler receives it.
pub struct Call<'a, S> {
    pub state: &'a S,
    pub request: Request<Incoming>,
    pub ctx: &'a RequestContext,
    pub params: Params<'static, 'a>,
}

/// One resource: a path pattern (`/users/{user_id}`) and what each method runs.
pub struct Resource<H> {
    name: &'static str,
    pattern: &'static str,
    methods: Vec<(Method, H)>,
}

/// A row of a table: `resource("users", "/users/{user_id}").get(…).delete(…)`.
pub fn resource<H>(name: &'static str, pattern: &'static str) -> Resource<H> {
    Resource {
        name,
        pattern,
        methods: Vec::new(),
    }
}

impl<H> Resource<H> {
    pub fn get(self, handler: H) -> Self {
        self.on(Method::GET, handler)
    }

    pub fn post(self, handler: H) -> Self {
        self.on(Method::POST, handler)
    }

    pub fn put(self, handler: H) -> Self {
        self.on(Method::PUT, handler)
    }

    pub fn delete(self, handler: H) -> Self {
        self.on(Method::DELETE, handler)
    }

    pub fn on(mut self, method: Method, handler: H) -> Self {
        self.methods.push((method, handler));
        self
    }

    /// The resource's name on the access line (`login`, `users`, …).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The pattern it was declared with.
    pub fn pattern(&self) -> &'static str {
        self.pattern
    }
}

/// A table of resources, matched by path.
pub struct Table<H> {
    paths: matchit::Router<usize>,
    resources: Vec<(Resource<H>, Option<&'static str>)>,
}

/// A path the table routes: its resource and the values of its `{params}`.
pub struct Matched<'t, 'p, H> {
    resource: &'t Resource<H>,
    allow: Option<&'static str>,
    params: Params<'t, 'p>,
}

/// The `{name}` values of a matched path.
#[derive(Debug, Clone, Default)]
pub struct Params<'t, 'p> {
    pairs: Vec<(&'t str, &'p str)>,
}

impl<'p> Params<'_, 'p> {
    /// The value of `{name}`; empty when the pattern has no such parameter (a table's
    /// handler names only parameters of its own pattern).
    pub fn get(&self, name: &str) -> &'p str {
        self.pairs
            .iter()
            .find(|(key, _)| *key == name)
            .map_or("", |(_, value)| value)
    }
}

impl<H> Table<H> {
    /// Builds the table. Panics on a pattern matchit refuses or two rows of one pattern: a
    /// programming error in a static table, caught by every test that routes a request.
    pub fn new(rows: Vec<Resource<H>>) -> Self {
        let mut paths = matchit::Router::new();
        let mut resources = Vec::with_capacity(rows.len());
        for (index, row) in rows.into_iter().enumerate() {
            if let Err(err) = paths.insert(row.pattern, index) {
                panic!("route table: {}: {err}", row.pattern);
            }
            let allow = allow_header(&row.methods);
            resources.push((row, allow));
        }
        Self { paths, resources }
    }

    /// The resource routing `path`, or `None` when no row matches.
    pub fn at<'t, 'p>(&'t self, path: &'p str) -> Option<Matched<'t, 'p, H>> {
        let found = self.paths.at(path).ok()?;
        let (resource, allow) = self.resources.get(*found.value)?;
        Some(Matched {
            resource,
            allow: *allow,
            params: Params {
                pairs: found.params.iter().collect(),
            },
        })
    }

    /// Every resource, in table order (the OpenAPI checks walk them).
    pub fn resources(&self) -> impl Iterator<Item = &Resource<H>> {
        self.resources.iter().map(|(resource, _)| resource)
    }
}

impl<'t, 'p, H> Matched<'t, 'p, H> {
    pub fn name(&self) -> &'static str {
        self.resource.name
    }

    pub fn params(&self) -> &Params<'t, 'p> {
        &self.params
    }

    /// Takes the parameters out (a handler owns them with the request).
    pub fn into_params(self) -> Params<'t, 'p> {
        self.params
    }

    /// The methods the resource answers, as its `Allow` header lists them (`None`: a path the
    /// gateway owns that answers nothing, 404 whatever the method).
    pub fn allow(&self) -> Option<&'static str> {
        self.allow
    }

    /// The handler of `method`: a 405 naming the resource's methods when it has none, a 404
    /// when the resource answers no method at all.
    pub fn handler(&self, method: &Method) -> Result<&'t H, ApiError> {
        let resource: &'t Resource<H> = self.resource;
        if let Some((_, handler)) = resource.methods.iter().find(|(m, _)| m == method) {
            return Ok(handler);
        }
        Err(match self.allow {
            Some(allow) => ApiError::method_not_allowed(allow),
            None => ApiError::not_found(),
        })
    }
}

impl<'p, S> Matched<'static, 'p, Handler<S>> {
    /// Runs the handler of the request's method: its answer, a 405 naming the resource's
    /// methods, or a 404 for a path that answers nothing.
    pub async fn call(
        self,
        state: &'p S,
        request: Request<Incoming>,
        ctx: &'p RequestContext,
    ) -> Response<Body> {
        let handler = match self.handler(request.method()) {
            Ok(handler) => handler,
            Err(err) => return err.into_response(),
        };
        let call = Call {
            state,
            request,
            ctx,
            params: self.params,
        };
        handler(call).await.unwrap_or_else(ApiError::into_response)
    }
}

/// `GET, POST`: the row's methods in one order whatever the row's (GET, HEAD, POST, PUT,
/// PATCH, DELETE, then others). Built once per row of a
/// table that lives as long as the process (`LazyLock` statics), so the text is leaked to be
/// `'static` like the literals `ApiError::method_not_allowed` takes elsewhere.
fn allow_header<H>(methods: &[(Method, H)]) -> Option<&'static str> {
    if methods.is_empty() {
        return None;
    }
    const ORDER: [Method; 6] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ];
    let rank = |method: &Method| {
        ORDER
            .iter()
            .position(|m| m == method)
            .unwrap_or(ORDER.len())
    };
    let mut names: Vec<&Method> = methods.iter().map(|(method, _)| method).collect();
    names.sort_by_key(|method| rank(method));
    let names: Vec<&str> = names.into_iter().map(Method::as_str).collect();
    Some(Box::leak(names.join(", ").into_boxed_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table<u8> {
        Table::new(vec![
            resource("users", "/users").get(1).post(2),
            resource("user", "/users/{user_id}").get(3).delete(4),
            resource("import", "/users/import").post(5),
            resource("owned", "/sessions/{*rest}"),
        ])
    }

    #[test]
    fn a_path_finds_its_handler_and_parameters() {
        let table = table();
        let matched = table.at("/users/u1").expect("routed");
        assert_eq!(matched.name(), "user");
        assert_eq!(matched.params().get("user_id"), "u1");
        assert_eq!(matched.handler(&Method::DELETE).ok(), Some(&4));
        // A static segment wins over a parameter.
        let matched = table.at("/users/import").expect("routed");
        assert_eq!(matched.handler(&Method::POST).ok(), Some(&5));
        assert!(table.at("/other").is_none());
        assert!(table.at("/users/u1/extra").is_none());
    }

    #[test]
    fn a_wrong_method_is_405_with_the_rows_methods() {
        let table = table();
        let err = table
            .at("/users")
            .expect("routed")
            .handler(&Method::DELETE)
            .expect_err("no DELETE on /users");
        assert_eq!(err.status, http::StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(err.allow, Some("GET, POST"));
        let err = table
            .at("/users/import")
            .expect("routed")
            .handler(&Method::GET)
            .expect_err("import is POST only");
        assert_eq!(err.allow, Some("POST"));
    }

    #[test]
    fn an_owned_path_without_methods_is_404_whatever_the_method() {
        let table = table();
        let matched = table.at("/sessions/a/b").expect("owned");
        assert_eq!(matched.allow(), None);
        let err = matched.handler(&Method::GET).expect_err("nothing answers");
        assert_eq!(err.status, http::StatusCode::NOT_FOUND);
    }
}
