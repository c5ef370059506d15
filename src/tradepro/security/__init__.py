"""What the API and the WebSocket server both need to know who a caller is: signed session
and sign-in link tokens (``tokens``), the signed-out sessions every process refuses
(``revocations``), and which pages count as our own (``origin``). Neither server imports
the other; both import this.
"""
