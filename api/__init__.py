"""The edge: HTTP routes, the token relay and the web page. It never imports a stage."""
