"""The web dashboard (DESIGN.md section 6): server-rendered pages over the API's own
reports, for people who would rather look than read. `site.install` puts it in an app."""
