"""A real SPARQL client against kgrec's /sparql: SPARQLWrapper (and rdflib underneath it)
runs a SELECT, an ASK, a CONSTRUCT and an authenticated UPDATE, unchanged.

Usage: python sparqlwrapper_check.py ENDPOINT TOKEN
Prints one line per check; exits non-zero on the first failure.
"""

import sys

from SPARQLWrapper import JSON, POST, TURTLE, XML, SPARQLWrapper

endpoint, token = sys.argv[1], sys.argv[2]
PREFIX = "PREFIX schema: <http://schema.org/>\n"

s = SPARQLWrapper(endpoint)
s.setQuery(PREFIX + "SELECT ?p ?name WHERE { ?p a schema:Product ; schema:name ?name } ORDER BY ?p")
s.setReturnFormat(JSON)
rows = s.query().convert()["results"]["bindings"]
assert len(rows) == 9, rows
assert rows[0]["name"]["value"].startswith("OPI Nail Lacquer"), rows[0]
print("select json", len(rows))

s.setReturnFormat(XML)
doc = s.query().convert()
assert len(doc.getElementsByTagName("result")) == 9
print("select xml ok")

s.setQuery("ASK { ?s ?p ?o }")
s.setReturnFormat(JSON)
assert s.query().convert()["boolean"] is True
print("ask ok")

s.setQuery(PREFIX + "CONSTRUCT { ?p schema:name ?n } WHERE { ?p a schema:Product ; schema:name ?n }")
s.setReturnFormat(TURTLE)
turtle = s.query().convert()
text = turtle.decode() if isinstance(turtle, bytes) else str(turtle)
assert "Big Apple Red" in text, text[:200]
print("construct turtle ok")

# The rdflib graph SPARQLWrapper builds for RDF/XML.
s.setReturnFormat(XML)
graph = s.query().convert()
assert len(graph) == 9, len(graph)
print("construct rdflib graph", len(graph))

u = SPARQLWrapper(endpoint)
u.setMethod(POST)
u.setQuery("INSERT DATA { GRAPH <urn:client> { <urn:s> <urn:p> \"from SPARQLWrapper\" } }")
u.addCustomHttpHeader("Authorization", "Bearer " + token)
u.query()
s.setQuery("ASK { GRAPH <urn:client> { <urn:s> <urn:p> \"from SPARQLWrapper\" } }")
s.setReturnFormat(JSON)
assert s.query().convert()["boolean"] is True
print("update ok")
