/// The built-in page templates (Mustache; `{{x}}` is HTML-escaped). An operator's
/// `templates_directory` may replace any of them with a file `NAME.mustache`.
enum PageTemplates {
    static let all: [String: String] = [
        "header": header, "footer": footer, "login": login, "consent": consent, "error": error,
    ]

    static let header = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}}</title>
        <link rel="stylesheet" href="/static/warden.css">
        </head>
        <body>
        <main>
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
        <label for="username">Username</label>
        <input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" required autofocus value="{{username}}">
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required>
        <button type="submit">Sign in</button>
        </form>
        {{> footer}}
        """

    static let consent = """
        {{> header}}
        <h1>Allow {{client_name}}?</h1>
        <p>You are signed in as <strong>{{username}}</strong>. <strong>{{client_name}}</strong> asks for:</p>
        <ul class="scopes">
        {{#scopes}}<li><code>{{.}}</code></li>
        {{/scopes}}
        </ul>
        <form method="post" action="/consent">
        <input type="hidden" name="csrf_token" value="{{csrf_token}}">
        <input type="hidden" name="authorization_request" value="{{authorization_request}}">
        <div class="actions">
        <button type="submit" name="decision" value="allow">Allow</button>
        <button type="submit" name="decision" value="deny" class="secondary">Deny</button>
        </div>
        </form>
        {{> footer}}
        """

    static let error = """
        {{> header}}
        <h1>This request cannot go on</h1>
        <p role="alert">{{description}}</p>
        <p>Error code: <code>{{error}}</code></p>
        {{> footer}}
        """

    /// Served same-origin at /static/warden.css; sizes in rem so 200% zoom reflows.
    static let stylesheet = """
        :root { color-scheme: light dark; font-family: system-ui, sans-serif; line-height: 1.5; }
        body { margin: 0; padding: 1rem; }
        main { max-width: 26rem; margin: 2rem auto; }
        h1 { font-size: 1.6rem; margin: 0 0 0.5rem; }
        form { display: flex; flex-direction: column; gap: 0.5rem; margin-top: 1rem; }
        label { font-weight: 600; }
        input[type=text], input[type=password] { font: inherit; padding: 0.5rem; border: 1px solid #767676; border-radius: 0.25rem; }
        button { font: inherit; padding: 0.6rem 1rem; border: 0; border-radius: 0.25rem; background: #1f5fbf; color: #fff; cursor: pointer; }
        button.secondary { background: #595959; }
        button:focus-visible, input:focus-visible { outline: 3px solid #f0a500; outline-offset: 2px; }
        .actions { display: flex; gap: 0.75rem; flex-wrap: wrap; }
        .error { color: #b00020; font-weight: 600; }
        .scopes code { font-size: 1rem; }
        """
}
