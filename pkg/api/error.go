package api

import (
	"fmt"
	"net/http"
)

// Error is the body of every non-2xx API response,
// {"statusCode":N,"message":"..."}, and the error the SDK returns for it.
type Error struct {
	StatusCode int    `json:"statusCode"`
	Message    string `json:"message"`
}

func (e *Error) Error() string {
	text := http.StatusText(e.StatusCode)
	if text == "" {
		text = "error"
	}
	if e.Message == "" {
		return fmt.Sprintf("%d %s", e.StatusCode, text)
	}
	return fmt.Sprintf("%d %s: %s", e.StatusCode, text, e.Message)
}

// NewError builds an API error with a formatted message.
func NewError(status int, format string, args ...any) *Error {
	return &Error{StatusCode: status, Message: fmt.Sprintf(format, args...)}
}
