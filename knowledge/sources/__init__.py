"""Website knowledge sources: a tenant's site crawled once and kept in sync, one document per page.

- `config`: checking what an admin asks for (URL, limits, schedule, URL patterns);
- `urls`, `robots`, `sitemaps`: which URLs a crawl may and should fetch;
- `fetch`: guarded requests (SSRF checks on every hop, size and time limits, polite pacing);
- `extract`: a page's main content as Markdown with its headings, its title and links;
- `store`: sources and pages in the database, and a page's document versions;
- `sync`: one sync run, from discovery to removing pages gone from the site;
- `schedule`: the worker's loop that starts due re-syncs and re-sends lost ones.
Writes that people start go through `knowledge.commands`; the worker runs `knowledge.tasks.sync_source`.
"""
