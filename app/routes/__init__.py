"""HTTP routes, one router per concern; `app.main` includes them."""
