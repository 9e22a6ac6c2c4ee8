"""The browser console (``gatewise serve --console``): models, a try-it form with explanations, decision records.

    session.py  sessions: an opaque cookie id, the credential kept in memory, a CSRF token each
    stats.py    every model's figures in one answer, from the server's own latency histogram
    records.py  the records pages' reads, with gateway.records' own query and chain check
    routes.py   the pages (Jinja2, autoescaped) and /console/api/stats
    views.py    the security headers, form reading, the try-it form's fields, the model folder's files
    templates/  the pages' HTML; static/ their scripts (plain ES modules), stylesheet and uPlot

The HTTP front door builds it only when ``--console`` is given; ``session`` is the one module its
middleware imports, so a server without the console loads none of the rest (nor Jinja2).
"""
