"""Calendar feeds: a pure builder (``build``), row loading (``rows``), dirty marking (``dirty``), an
atomic publisher (``publish``), the subscribe page (``site``) and a small local server (``serve``)."""
