"""The settings pages: Jinja templates that lay a page out and plain JavaScript modules that fill
it from the same JSON API every client uses. No build step."""
