/// The built-in page templates (Mustache; `{{x}}` is HTML-escaped). An operator's
/// `templates_directory` may replace any of them with a file `NAME.mustache`.
/// Every page gets `brand_name` and, when a logo is configured, `logo`.
enum PageTemplates {
    static let all: [String: String] = [
        "header": header, "footer": footer, "login": login, "consent": consent, "error": error, "demo_callback": demoCallback,
        "form_post": formPost, "logout": logout, "signed_out": signedOut, "credentials": credentials, "scope_list": scopeList, "decision": decision, "device": device,
        "device_login": deviceLogin, "device_consent": deviceConsent, "device_done": deviceDone,
    ]

    static let header = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · {{brand_name}}</title>
        <link rel="stylesheet" href="/static/warden.css">
        </head>
        <body>
        <main class="card">
        <p class="brand">{{#logo}}<img src="/static/logo" alt="" class="logo">{{/logo}}<span>{{brand_name}}</span></p>
        """

    static let footer = """
        </main>
        </body>
        </html>
        """

    static let login = """
        {{> header}}
        <h1>Sign in</h1>
        <p>to continue to <strong>{{client_name}}</strong></p>
        {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
        <form method="post" action="/login">
        <input type="hidden" name="csrf_token" value="{{csrf_token}}">
        <input type="hidden" name="authorization_request" value="{{authorization_request}}">
        {{> credentials}}
        </form>
        <p class="cancel"><a href="/authorize/cancel?{{authorization_request}}">Cancel and go back to {{client_name}}</a></p>
        {{> footer}}
        """

    /// The username and password fields of the sign-in forms (`login`, `device_login`).
    static let credentials = """
        <label for="username">Username</label>
        <input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" required{{^failed}} autofocus{{/failed}} value="{{username}}">
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required{{#failed}} autofocus{{/failed}}>
        <button type="submit">Sign in</button>
        """

    /// What the consent pages (`consent`, `device_consent`) ask for, scope by scope.
    static let scopeList = """
        <ul class="scopes">
        {{#scopes}}<li>{{description}} <code>{{name}}</code></li>
        {{/scopes}}
        </ul>
        """

    /// The consent pages' two buttons.
    static let decision = """
        <div class="actions">
        <button type="submit" name="decision" value="allow">Allow</button>
        <button type="submit" name="decision" value="deny" class="secondary">Deny</button>
        </div>
        """

    static let consent = """
        {{> header}}
        <h1>Allow {{client_name}}?</h1>
        <p>You are signed in as <strong>{{username}}</strong>. <strong>{{client_name}}</strong> would like to:</p>
        {{> scope_list}}
        <form method="post" action="/consent">
        <input type="hidden" name="csrf_token" value="{{csrf_token}}">
        <input type="hidden" name="authorization_request" value="{{authorization_request}}">
        {{> decision}}
        </form>
        {{> footer}}
        """

    static let error = """
        {{> header}}
        <h1>{{heading}}</h1>
        <p role="alert">{{description}}</p>
        <p>{{advice}}</p>
        <p class="code">For the application's developer: <code>{{error}}</code></p>
        {{> footer}}
        """

    /// OAuth 2.0 Form Post Response Mode: the response as a form the browser POSTs to the
    /// client. `script` (written by the server, allowed by its hash in the CSP) submits
    /// it; without JavaScript the button does.
    static let formPost = """
        {{> header}}
        <h1>Continue to {{client_name}}</h1>
        <p>You are being sent back to {{client_name}}. If this page stays, press Continue.</p>
        <form method="post" action="{{redirect_uri}}" id="response">
        {{#parameters}}<input type="hidden" name="{{name}}" value="{{value}}">
        {{/parameters}}<button type="submit">Continue</button>
        </form>
        <script>{{{script}}}</script>
        {{> footer}}
        """

    /// RP-Initiated Logout's confirmation, when the request does not prove it comes from
    /// an application of this session.
    static let logout = """
        {{> header}}
        <h1>Sign out of {{brand_name}}?</h1>
        <p>{{#username}}You are signed in as <strong>{{username}}</strong>. {{/username}}{{#client_name}}<strong>{{client_name}}</strong> asks to sign you out.{{/client_name}}</p>
        <form method="post" action="/logout">
        {{#csrf_token}}<input type="hidden" name="csrf_token" value="{{csrf_token}}">{{/csrf_token}}
        {{#parameters}}<input type="hidden" name="{{name}}" value="{{value}}">
        {{/parameters}}<div class="actions">
        <button type="submit" name="decision" value="logout">Sign out</button>
        </div>
        </form>
        {{> footer}}
        """

    static let signedOut = """
        {{> header}}
        <h1>You are signed out</h1>
        <p>You are no longer signed in to {{brand_name}}. You can close this window.</p>
        {{> footer}}
        """

    /// The demo's own redirect URI: what an application would receive, and a button that
    /// exchanges the code as the application would.
    static let demoCallback = """
        {{> header}}
        <h1>{{heading}}</h1>
        {{#error}}<p class="error" role="alert">The authorization server answered <code>{{error}}</code>{{#error_description}}: {{error_description}}{{/error_description}}</p>{{/error}}
        {{#code}}<p>This page stands in for the application: Warden sent the browser here with an authorization code.</p>
        <pre class="wrap">code={{code}}</pre>
        <p>The application now exchanges it for tokens, as this command would (the code lasts 60 seconds, once):</p>
        <pre class="wrap">{{curl}}</pre>
        <form method="post" action="/demo/callback">
        <input type="hidden" name="code" value="{{code}}">
        <button type="submit">Exchange the code</button>
        </form>{{/code}}
        {{#tokens}}<p>The token response:</p>
        <pre class="wrap">{{response}}</pre>
        <p>The access token's claims (RFC 9068), decoded:</p>
        <pre class="wrap">{{claims}}</pre>
        {{#id_token_claims}}<p>The ID token's claims (OpenID Connect: who signed in, for the application only), decoded:</p>
        <pre class="wrap">{{id_token_claims}}</pre>{{/id_token_claims}}{{/tokens}}
        <p class="code">Only in demo mode (<code>warden serve --demo</code>).</p>
        {{> footer}}
        """

    /// Served same-origin at /static/warden.css; sizes in rem so 200% zoom reflows.
    static let stylesheet = """
        :root { color-scheme: light dark; --page: #f3f4f6; --card: #ffffff; --text: #1f2328; --muted: #57606a;
          --border: #d0d7de; --accent: #1f5fbf; --accent-text: #ffffff; --error: #b00020;
          font-family: system-ui, sans-serif; line-height: 1.5; }
        @media (prefers-color-scheme: dark) {
          :root { --page: #0d1117; --card: #161b22; --text: #e6edf3; --muted: #9198a1; --border: #3d444d;
            --accent: #4493f8; --accent-text: #0d1117; --error: #ff7b72; }
        }
        body { margin: 0; padding: 1rem; background: var(--page); color: var(--text); }
        .card { max-width: 26rem; margin: 3rem auto; padding: 2rem; background: var(--card); border: 1px solid var(--border);
          border-radius: 0.75rem; box-shadow: 0 0.25rem 1rem rgb(0 0 0 / 0.08); }
        .brand { display: flex; align-items: center; gap: 0.5rem; margin: 0 0 1.5rem; color: var(--muted); font-weight: 600; }
        .logo { max-height: 2rem; max-width: 8rem; }
        h1 { font-size: 1.5rem; line-height: 1.25; margin: 0 0 0.5rem; overflow-wrap: anywhere; }
        form { display: flex; flex-direction: column; gap: 0.5rem; margin-top: 1rem; }
        label { font-weight: 600; }
        input[type=text], input[type=password] { font: inherit; padding: 0.5rem; border: 1px solid var(--border); border-radius: 0.375rem;
          background: var(--page); color: var(--text); }
        button { font: inherit; padding: 0.6rem 1rem; border: 0; border-radius: 0.375rem; background: var(--accent); color: var(--accent-text);
          cursor: pointer; font-weight: 600; }
        button.secondary { background: transparent; color: var(--text); border: 1px solid var(--border); }
        button:focus-visible, input:focus-visible, a:focus-visible { outline: 3px solid #f0a500; outline-offset: 2px; }
        a { color: var(--accent); }
        .actions { display: flex; gap: 0.75rem; flex-wrap: wrap; }
        .actions button { flex: 1; }
        .error { color: var(--error); font-weight: 600; }
        .scopes { padding-left: 1.25rem; }
        .scopes code, .code { font-size: 0.8rem; color: var(--muted); }
        .cancel { margin-top: 1.25rem; font-size: 0.9rem; }
        .warning { border-left: 0.25rem solid #f0a500; padding: 0.5rem 0.75rem; background: var(--page); }
        .user-code { font-family: ui-monospace, monospace; font-size: 1.25rem; letter-spacing: 0.1em; white-space: nowrap; }
        input.user-code { text-transform: uppercase; text-align: center; }
        pre.wrap { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.8rem; padding: 0.75rem; background: var(--page);
          border: 1px solid var(--border); border-radius: 0.375rem; }
        @media (max-width: 30rem) { body { padding: 0.5rem; } .card { margin: 1rem auto; padding: 1.25rem; } }
        """
}
