-- The services never share a database: one each, on one server.
CREATE DATABASE auth;
CREATE DATABASE library;
