extension PageTemplates {
    /// RFC 8628 §3.3: the code entry page. `verification_uri_complete` fills the field;
    /// the person still confirms it.
    static let device = """
        {{> header}}
        <h1>Connect a device</h1>
        <p>Enter the code shown on the device you want to sign in on.</p>
        {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
        <form method="post" action="/device">
        <input type="hidden" name="csrf_token" value="{{csrf_token}}">
        <label for="user_code">Code</label>
        <input id="user_code" name="user_code" type="text" class="user-code" autocomplete="one-time-code" autocapitalize="characters" spellcheck="false" maxlength="16" placeholder="XXXX-XXXX" required autofocus value="{{user_code}}">
        <button type="submit">Continue</button>
        </form>
        {{> footer}}
        """

    static let deviceLogin = """
        {{> header}}
        <h1>Sign in</h1>
        <p>to connect a device to <strong>{{client_name}}</strong></p>
        {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
        <form method="post" action="/device/login">
        <input type="hidden" name="csrf_token" value="{{csrf_token}}">
        <input type="hidden" name="user_code" value="{{user_code}}">
        {{> credentials}}
        </form>
        {{> footer}}
        """

    /// RFC 8628 §5.4: someone may have sent the person a code from their own device,
    /// so the page asks them to approve only a device they are holding.
    static let deviceConsent = """
        {{> header}}
        <h1>Allow {{client_name}} on your device?</h1>
        <p>You are signed in as <strong>{{username}}</strong>. <strong>{{client_name}}</strong> would like to:</p>
        {{> scope_list}}
        <p class="warning" role="note"><strong>Only allow this if you started it on a device you are holding</strong>, and it shows the code <span class="user-code">{{user_code}}</span>. If someone sent you this code, choose Deny.</p>
        <form method="post" action="/device/consent">
        <input type="hidden" name="csrf_token" value="{{csrf_token}}">
        <input type="hidden" name="user_code" value="{{user_code}}">
        {{> decision}}
        </form>
        {{> footer}}
        """

    static let deviceDone = """
        {{> header}}
        <h1>{{heading}}</h1>
        <p>{{message}}</p>
        {{> footer}}
        """
}
