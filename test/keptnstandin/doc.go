// Package keptnstandin is a stand-in for the two Keptn v1 control-plane
// services this project talks to: the resource-service's GET routes, served
// from an in-memory repository of commits, and the api-service's
// POST /v1/event with Keptn's event validation. Every request and every
// response is checked against the contract, so the stand-in cannot drift from
// Keptn: the project's own OpenAPI document of these endpoints
// (contract/keptn.openapi.yaml, embedded), and Keptn's wire types from
// github.com/keptn/go-utils, which must be able to hold every body.
//
// Files are committed in a layout that mirrors the REST paths:
//
//	project/<p>/resource/<uri>
//	project/<p>/stage/<s>/resource/<uri>
//	project/<p>/stage/<s>/service/<v>/resource/<uri>
//
// See README.md for the routes, the escaping rules and where the stand-in
// follows or departs from Keptn.
package keptnstandin
