package websocket

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseExtensions(t *testing.T) {
	tests := []struct {
		name    string
		values  []string
		want    []extensionOffer
		wantErr string // substring; the error must also wrap errBadExtensionHeader
	}{
		{
			name:   "no values",
			values: nil,
			want:   nil,
		},
		{
			name:   "empty value",
			values: []string{""},
			want:   nil,
		},
		{
			name:   "only separators and whitespace",
			values: []string{" ,\t, ", ""},
			want:   nil,
		},
		{
			name:   "bare extension",
			values: []string{"permessage-deflate"},
			want:   []extensionOffer{{name: "permessage-deflate"}},
		},
		{
			name:   "every parameter form",
			values: []string{`permessage-deflate; client_max_window_bits; server_max_window_bits=10; x="y"`},
			want: []extensionOffer{{
				name: "permessage-deflate",
				params: []extensionParam{
					{name: "client_max_window_bits"},
					{name: "server_max_window_bits", value: "10", hasValue: true},
					{name: "x", value: "y", hasValue: true},
				},
			}},
		},
		{
			name:   "quoted value with escapes",
			values: []string{`a; b="\1\0"; c="1\5"`},
			want: []extensionOffer{{
				name: "a",
				params: []extensionParam{
					{name: "b", value: "10", hasValue: true},
					{name: "c", value: "15", hasValue: true},
				},
			}},
		},
		{
			name:   "whitespace around every separator",
			values: []string{" \tpermessage-deflate \t;\t client_max_window_bits \t= \t\"10\" ; server_no_context_takeover , foo\t"},
			want: []extensionOffer{
				{
					name: "permessage-deflate",
					params: []extensionParam{
						{name: "client_max_window_bits", value: "10", hasValue: true},
						{name: "server_no_context_takeover"},
					},
				},
				{name: "foo"},
			},
		},
		{
			name:   "names lower-cased, values kept",
			values: []string{"PerMessage-Deflate; Server_Max_Window_Bits=Abc"},
			want: []extensionOffer{{
				name:   "permessage-deflate",
				params: []extensionParam{{name: "server_max_window_bits", value: "Abc", hasValue: true}},
			}},
		},
		{
			name:   "several extensions in one value",
			values: []string{"x-webkit-deflate-frame, permessage-deflate; client_max_window_bits, permessage-deflate"},
			want: []extensionOffer{
				{name: "x-webkit-deflate-frame"},
				{name: "permessage-deflate", params: []extensionParam{{name: "client_max_window_bits"}}},
				{name: "permessage-deflate"},
			},
		},
		{
			name:   "several values and empty list elements",
			values: []string{",a;p=1,,", "", "b , ", "c"},
			want: []extensionOffer{
				{name: "a", params: []extensionParam{{name: "p", value: "1", hasValue: true}}},
				{name: "b"},
				{name: "c"},
			},
		},
		{
			name:   "duplicate parameters are kept for the caller to judge",
			values: []string{"a; p; p=1"},
			want: []extensionOffer{{
				name:   "a",
				params: []extensionParam{{name: "p"}, {name: "p", value: "1", hasValue: true}},
			}},
		},
		{
			name:    "parameter without extension",
			values:  []string{"; p"},
			wantErr: "expected an extension name at offset 0",
		},
		{
			name:    "trailing semicolon",
			values:  []string{"a;"},
			wantErr: "expected a parameter name at offset 2, found end of value",
		},
		{
			name:    "missing parameter name",
			values:  []string{"a; =1"},
			wantErr: "expected a parameter name at offset 3",
		},
		{
			name:    "missing value",
			values:  []string{"a; p="},
			wantErr: "expected a parameter value at offset 5",
		},
		{
			name:    "missing value before comma",
			values:  []string{"a; p= , b"},
			wantErr: "expected a parameter value",
		},
		{
			name:    "two tokens without separator",
			values:  []string{"a b"},
			wantErr: `expected ";" or "," at offset 2, found 'b'`,
		},
		{
			name:    "space inside a value",
			values:  []string{"a; p=1 2"},
			wantErr: `expected ";" or ","`,
		},
		{
			name:    "two equals signs",
			values:  []string{"a; p=b=c"},
			wantErr: `expected ";" or ","`,
		},
		{
			name:    "unterminated quoted value",
			values:  []string{`a; p="10`},
			wantErr: `expected closing '"'`,
		},
		{
			name:    "empty quoted value",
			values:  []string{`a; p=""`},
			wantErr: "expected a token inside the quotes",
		},
		{
			name:    "quoted value that is not a token",
			values:  []string{`a; p="1 0"`},
			wantErr: "quoted value",
		},
		{
			name:    "quoted comma",
			values:  []string{`a; p=",", b`},
			wantErr: "quoted value",
		},
		{
			name:    "escaped space",
			values:  []string{`a; p="1\ 0"`},
			wantErr: "a token character after the backslash",
		},
		{
			name:    "backslash at the end",
			values:  []string{`a; p="1\`},
			wantErr: "a character after the backslash",
		},
		{
			name:    "control character",
			values:  []string{"a\x00"},
			wantErr: `found '\x00'`,
		},
		{
			name:    "non-ASCII name",
			values:  []string{"défl"},
			wantErr: "found byte 0xc3",
		},
		{
			name:    "error in a later value",
			values:  []string{"permessage-deflate", "b;"},
			wantErr: "expected a parameter name",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseExtensions(tc.values)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseExtensions(%q) error = %v, want it to contain %q", tc.values, err, tc.wantErr)
				}
				if !errors.Is(err, errBadExtensionHeader) {
					t.Errorf("error %v does not wrap errBadExtensionHeader", err)
				}
				if got != nil {
					t.Errorf("parseExtensions returned %+v with the error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseExtensions(%q): %v", tc.values, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseExtensions(%q)\n got %+v\nwant %+v", tc.values, got, tc.want)
			}
		})
	}
}

// deflateDefaults is the deflateParams of a connection with no parameter negotiated.
var deflateDefaults = deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 15}

func TestNegotiateDeflate(t *testing.T) {
	contextTakeover := &CompressionOptions{Mode: CompressionContextTakeover}
	noContextTakeover := &CompressionOptions{Mode: CompressionNoContextTakeover}
	tests := []struct {
		name         string
		opts         *CompressionOptions
		values       []string
		wantOK       bool
		wantResponse string
		wantParams   deflateParams
		wantErr      bool // the error must wrap errBadExtensionHeader
	}{
		{
			name:   "nil options",
			opts:   nil,
			values: []string{"permessage-deflate"},
		},
		{
			name:   "disabled",
			opts:   &CompressionOptions{},
			values: []string{"permessage-deflate"},
		},
		{
			name:   "disabled ignores a malformed header",
			opts:   &CompressionOptions{},
			values: []string{"permessage-deflate;"},
		},
		{
			name:   "unknown mode is disabled",
			opts:   &CompressionOptions{Mode: 7},
			values: []string{"permessage-deflate"},
		},
		{
			name:   "no header",
			opts:   contextTakeover,
			values: nil,
		},
		{
			name:   "only other extensions",
			opts:   contextTakeover,
			values: []string{"x-webkit-deflate-frame", "foo; bar=1"},
		},
		{
			name:         "bare offer",
			opts:         contextTakeover,
			values:       []string{"permessage-deflate"},
			wantOK:       true,
			wantResponse: "permessage-deflate",
			wantParams:   deflateDefaults,
		},
		{
			name:         "browser offer, context takeover",
			opts:         contextTakeover,
			values:       []string{"permessage-deflate; client_max_window_bits"},
			wantOK:       true,
			wantResponse: "permessage-deflate",
			wantParams:   deflateDefaults,
		},
		{
			name:         "browser offer, no context takeover",
			opts:         noContextTakeover,
			values:       []string{"permessage-deflate; client_max_window_bits"},
			wantOK:       true,
			wantResponse: "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
			wantParams:   deflateParams{serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15},
		},
		{
			name:         "server_no_context_takeover requested",
			opts:         contextTakeover,
			values:       []string{"permessage-deflate; server_no_context_takeover"},
			wantOK:       true,
			wantResponse: "permessage-deflate; server_no_context_takeover",
			wantParams:   deflateParams{serverNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15},
		},
		{
			name:         "client_no_context_takeover promised is made binding",
			opts:         contextTakeover,
			values:       []string{"permessage-deflate; client_no_context_takeover"},
			wantOK:       true,
			wantResponse: "permessage-deflate; client_no_context_takeover",
			wantParams:   deflateParams{clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15},
		},
		{
			name:         "server_max_window_bits honoured",
			opts:         contextTakeover,
			values:       []string{"permessage-deflate; server_max_window_bits=10"},
			wantOK:       true,
			wantResponse: "permessage-deflate; server_max_window_bits=10",
			wantParams:   deflateParams{serverMaxWindowBits: 10, clientMaxWindowBits: 15},
		},
		{
			name:         "server_max_window_bits=8",
			opts:         noContextTakeover,
			values:       []string{"permessage-deflate; server_max_window_bits=8"},
			wantOK:       true,
			wantResponse: "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8",
			wantParams:   deflateParams{serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 8, clientMaxWindowBits: 15},
		},
		{
			name:         "quoted window bits",
			opts:         contextTakeover,
			values:       []string{`permessage-deflate; server_max_window_bits="12"; client_max_window_bits="9"`},
			wantOK:       true,
			wantResponse: "permessage-deflate; server_max_window_bits=12; client_max_window_bits=9",
			wantParams:   deflateParams{serverMaxWindowBits: 12, clientMaxWindowBits: 9},
		},
		{
			name:   "server_max_window_bits without value",
			opts:   contextTakeover,
			values: []string{"permessage-deflate; server_max_window_bits"},
		},
		{
			name:   "server_max_window_bits too small",
			opts:   contextTakeover,
			values: []string{"permessage-deflate; server_max_window_bits=7"},
		},
		{
			name:   "server_max_window_bits too large",
			opts:   contextTakeover,
			values: []string{"permessage-deflate; server_max_window_bits=16"},
		},
		{
			name:   "server_max_window_bits with leading zero",
			opts:   contextTakeover,
			values: []string{"permessage-deflate; server_max_window_bits=09"},
		},
		{
			name:   "server_max_window_bits not a number",
			opts:   contextTakeover,
			values: []string{"permessage-deflate; server_max_window_bits=ten"},
		},
		{
			name:   "client_max_window_bits out of range",
			opts:   contextTakeover,
			values: []string{"permessage-deflate; client_max_window_bits=0"},
		},
		{
			name:   "server_no_context_takeover with a value",
			opts:   contextTakeover,
			values: []string{"permessage-deflate; server_no_context_takeover=1"},
		},
		{
			name:   "client_no_context_takeover with a quoted value",
			opts:   contextTakeover,
			values: []string{`permessage-deflate; client_no_context_takeover="true"`},
		},
		{
			name:   "unknown parameter",
			opts:   contextTakeover,
			values: []string{"permessage-deflate; mem_level=8"},
		},
		{
			name:   "duplicate parameter",
			opts:   contextTakeover,
			values: []string{"permessage-deflate; server_no_context_takeover; server_no_context_takeover"},
		},
		{
			name:   "duplicate window bits with different forms",
			opts:   contextTakeover,
			values: []string{"permessage-deflate; client_max_window_bits; client_max_window_bits=10"},
		},
		{
			name:         "offered client_max_window_bits value echoed",
			opts:         contextTakeover,
			values:       []string{"permessage-deflate; client_max_window_bits=15"},
			wantOK:       true,
			wantResponse: "permessage-deflate; client_max_window_bits=15",
			wantParams:   deflateDefaults,
		},
		{
			name:         "offered client_max_window_bits below our limit",
			opts:         &CompressionOptions{Mode: CompressionContextTakeover, MaxWindowBits: 12},
			values:       []string{"permessage-deflate; client_max_window_bits=10"},
			wantOK:       true,
			wantResponse: "permessage-deflate; client_max_window_bits=10",
			wantParams:   deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 10},
		},
		{
			name:         "offered client_max_window_bits above our limit",
			opts:         &CompressionOptions{Mode: CompressionContextTakeover, MaxWindowBits: 10},
			values:       []string{"permessage-deflate; client_max_window_bits=12"},
			wantOK:       true,
			wantResponse: "permessage-deflate; client_max_window_bits=10",
			wantParams:   deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 10},
		},
		{
			name:         "value-less client_max_window_bits limited",
			opts:         &CompressionOptions{Mode: CompressionNoContextTakeover, MaxWindowBits: 9},
			values:       []string{"permessage-deflate; client_max_window_bits"},
			wantOK:       true,
			wantResponse: "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=9",
			wantParams:   deflateParams{serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 9},
		},
		{
			name:   "client cannot be limited",
			opts:   &CompressionOptions{Mode: CompressionContextTakeover, MaxWindowBits: 10},
			values: []string{"permessage-deflate; server_no_context_takeover"},
		},
		{
			name:         "later offer can be limited",
			opts:         &CompressionOptions{Mode: CompressionContextTakeover, MaxWindowBits: 10},
			values:       []string{"permessage-deflate; server_no_context_takeover, permessage-deflate; client_max_window_bits"},
			wantOK:       true,
			wantResponse: "permessage-deflate; client_max_window_bits=10",
			wantParams:   deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 10},
		},
		{
			name:         "MaxWindowBits above range means 15",
			opts:         &CompressionOptions{Mode: CompressionContextTakeover, MaxWindowBits: 20},
			values:       []string{"permessage-deflate"},
			wantOK:       true,
			wantResponse: "permessage-deflate",
			wantParams:   deflateDefaults,
		},
		{
			name:         "MaxWindowBits below range means 8, allowed as 9",
			opts:         &CompressionOptions{Mode: CompressionContextTakeover, MaxWindowBits: 3},
			values:       []string{"permessage-deflate; client_max_window_bits"},
			wantOK:       true,
			wantResponse: "permessage-deflate; client_max_window_bits=9",
			wantParams:   deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 9},
		},
		{
			name:         "MaxWindowBits 8 keeps the client's own 8",
			opts:         &CompressionOptions{Mode: CompressionContextTakeover, MaxWindowBits: 8},
			values:       []string{"permessage-deflate; client_max_window_bits=8"},
			wantOK:       true,
			wantResponse: "permessage-deflate; client_max_window_bits=8",
			wantParams:   deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 8},
		},
		{
			name:         "every parameter",
			opts:         contextTakeover,
			values:       []string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11; client_max_window_bits=13"},
			wantOK:       true,
			wantResponse: "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11; client_max_window_bits=13",
			wantParams:   deflateParams{serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 11, clientMaxWindowBits: 13},
		},
		{
			name:         "first acceptable of several offers",
			opts:         contextTakeover,
			values:       []string{"permessage-deflate; server_max_window_bits=20, permessage-deflate; foo, permessage-deflate; server_max_window_bits=9, permessage-deflate"},
			wantOK:       true,
			wantResponse: "permessage-deflate; server_max_window_bits=9",
			wantParams:   deflateParams{serverMaxWindowBits: 9, clientMaxWindowBits: 15},
		},
		{
			name:         "offers across several header lines",
			opts:         contextTakeover,
			values:       []string{"x-foo; a=1", "permessage-deflate; server_max_window_bits", "permessage-deflate; server_no_context_takeover"},
			wantOK:       true,
			wantResponse: "permessage-deflate; server_no_context_takeover",
			wantParams:   deflateParams{serverNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15},
		},
		{
			name:         "names in any case, whitespace",
			opts:         contextTakeover,
			values:       []string{"  PERMESSAGE-DEFLATE\t;\tServer_No_Context_Takeover ;Client_Max_Window_Bits = 12  "},
			wantOK:       true,
			wantResponse: "permessage-deflate; server_no_context_takeover; client_max_window_bits=12",
			wantParams:   deflateParams{serverNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 12},
		},
		{
			name:         "SendWindowBits announced without being asked",
			opts:         &CompressionOptions{Mode: CompressionContextTakeover, SendWindowBits: 10},
			values:       []string{"permessage-deflate; client_max_window_bits"},
			wantOK:       true,
			wantResponse: "permessage-deflate; server_max_window_bits=10",
			wantParams:   deflateParams{serverMaxWindowBits: 10, clientMaxWindowBits: 15},
		},
		{
			name:         "SendWindowBits to a client that cannot be limited",
			opts:         &CompressionOptions{Mode: CompressionContextTakeover, SendWindowBits: 12},
			values:       []string{"permessage-deflate"},
			wantOK:       true,
			wantResponse: "permessage-deflate; server_max_window_bits=12",
			wantParams:   deflateParams{serverMaxWindowBits: 12, clientMaxWindowBits: 15},
		},
		{
			name:         "SendWindowBits below the window asked for",
			opts:         &CompressionOptions{Mode: CompressionContextTakeover, SendWindowBits: 10},
			values:       []string{"permessage-deflate; server_max_window_bits=12"},
			wantOK:       true,
			wantResponse: "permessage-deflate; server_max_window_bits=10",
			wantParams:   deflateParams{serverMaxWindowBits: 10, clientMaxWindowBits: 15},
		},
		{
			name:         "SendWindowBits above the window asked for",
			opts:         &CompressionOptions{Mode: CompressionContextTakeover, SendWindowBits: 12},
			values:       []string{"permessage-deflate; server_max_window_bits=9"},
			wantOK:       true,
			wantResponse: "permessage-deflate; server_max_window_bits=9",
			wantParams:   deflateParams{serverMaxWindowBits: 9, clientMaxWindowBits: 15},
		},
		{
			name:         "SendWindowBits equal to the window asked for",
			opts:         &CompressionOptions{Mode: CompressionContextTakeover, SendWindowBits: 11},
			values:       []string{"permessage-deflate; server_max_window_bits=11"},
			wantOK:       true,
			wantResponse: "permessage-deflate; server_max_window_bits=11",
			wantParams:   deflateParams{serverMaxWindowBits: 11, clientMaxWindowBits: 15},
		},
		{
			name:         "SendWindowBits 8 announced as 9",
			opts:         &CompressionOptions{Mode: CompressionContextTakeover, SendWindowBits: 8},
			values:       []string{"permessage-deflate; client_max_window_bits"},
			wantOK:       true,
			wantResponse: "permessage-deflate; server_max_window_bits=9",
			wantParams:   deflateParams{serverMaxWindowBits: 9, clientMaxWindowBits: 15},
		},
		{
			name:         "SendWindowBits 8 when the client asks for 8",
			opts:         &CompressionOptions{Mode: CompressionContextTakeover, SendWindowBits: 8},
			values:       []string{"permessage-deflate; server_max_window_bits=8"},
			wantOK:       true,
			wantResponse: "permessage-deflate; server_max_window_bits=8",
			wantParams:   deflateParams{serverMaxWindowBits: 8, clientMaxWindowBits: 15},
		},
		{
			name:         "SendWindowBits 15 adds nothing",
			opts:         &CompressionOptions{Mode: CompressionContextTakeover, SendWindowBits: 15},
			values:       []string{"permessage-deflate; client_max_window_bits"},
			wantOK:       true,
			wantResponse: "permessage-deflate",
			wantParams:   deflateDefaults,
		},
		{
			name:         "SendWindowBits above range means 15",
			opts:         &CompressionOptions{Mode: CompressionContextTakeover, SendWindowBits: 99},
			values:       []string{"permessage-deflate; server_max_window_bits=13"},
			wantOK:       true,
			wantResponse: "permessage-deflate; server_max_window_bits=13",
			wantParams:   deflateParams{serverMaxWindowBits: 13, clientMaxWindowBits: 15},
		},
		{
			name:         "SendWindowBits below range means 8",
			opts:         &CompressionOptions{Mode: CompressionContextTakeover, SendWindowBits: -4},
			values:       []string{"permessage-deflate"},
			wantOK:       true,
			wantResponse: "permessage-deflate; server_max_window_bits=9",
			wantParams:   deflateParams{serverMaxWindowBits: 9, clientMaxWindowBits: 15},
		},
		{
			name:         "SendWindowBits with MaxWindowBits: the server chooses both windows",
			opts:         &CompressionOptions{Mode: CompressionContextTakeover, SendWindowBits: 10, MaxWindowBits: 10},
			values:       []string{"permessage-deflate; client_max_window_bits"},
			wantOK:       true,
			wantResponse: "permessage-deflate; server_max_window_bits=10; client_max_window_bits=10",
			wantParams:   deflateParams{serverMaxWindowBits: 10, clientMaxWindowBits: 10},
		},
		{
			name:         "SendWindowBits with the client's own hint",
			opts:         &CompressionOptions{Mode: CompressionNoContextTakeover, SendWindowBits: 12},
			values:       []string{"permessage-deflate; client_max_window_bits=9"},
			wantOK:       true,
			wantResponse: "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=9",
			wantParams:   deflateParams{serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 12, clientMaxWindowBits: 9},
		},
		{
			name:   "SendWindowBits does not rescue an invalid server_max_window_bits",
			opts:   &CompressionOptions{Mode: CompressionContextTakeover, SendWindowBits: 10},
			values: []string{"permessage-deflate; server_max_window_bits=16"},
		},
		{
			name:   "SendWindowBits does not rescue a server_max_window_bits without value",
			opts:   &CompressionOptions{Mode: CompressionContextTakeover, SendWindowBits: 10},
			values: []string{"permessage-deflate; server_max_window_bits"},
		},
		{
			name:         "SendWindowBits with an invalid offer first",
			opts:         &CompressionOptions{Mode: CompressionContextTakeover, SendWindowBits: 10},
			values:       []string{"permessage-deflate; server_max_window_bits=7, permessage-deflate"},
			wantOK:       true,
			wantResponse: "permessage-deflate; server_max_window_bits=10",
			wantParams:   deflateParams{serverMaxWindowBits: 10, clientMaxWindowBits: 15},
		},
		{
			name:    "malformed header",
			opts:    contextTakeover,
			values:  []string{"permessage-deflate; server_max_window_bits=\"10"},
			wantErr: true,
		},
		{
			name:    "malformed after an acceptable offer",
			opts:    contextTakeover,
			values:  []string{"permessage-deflate", "foo bar"},
			wantErr: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			params, response, ok, err := negotiateDeflate(tc.values, tc.opts)
			if tc.wantErr {
				if !errors.Is(err, errBadExtensionHeader) {
					t.Fatalf("negotiateDeflate(%q) error = %v, want errBadExtensionHeader", tc.values, err)
				}
			} else if err != nil {
				t.Fatalf("negotiateDeflate(%q): %v", tc.values, err)
			}
			if ok != tc.wantOK || response != tc.wantResponse || params != tc.wantParams {
				t.Errorf("negotiateDeflate(%q)\n got ok=%v %q %+v\nwant ok=%v %q %+v",
					tc.values, ok, response, params, tc.wantOK, tc.wantResponse, tc.wantParams)
			}
		})
	}
}

// autobahnDeflateOffers are the Sec-WebSocket-Extensions values the Autobahn test
// suite sends as a client in cases 12.* and 13.*, built the way its
// PerMessageDeflateOffer does: client_no_context_takeover and value-less
// client_max_window_bits always, then server_no_context_takeover and
// server_max_window_bits as each case asks. Older releases use 8 where newer
// ones use 9.
var autobahnDeflateOffers = []struct {
	name  string
	value string
}{
	{
		name:  "12.* and 13.1",
		value: "permessage-deflate; client_no_context_takeover; client_max_window_bits",
	},
	{
		name:  "13.2",
		value: "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover",
	},
	{
		name:  "13.3",
		value: "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=8",
	},
	{
		name:  "13.3 newer",
		value: "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=9",
	},
	{
		name:  "13.4",
		value: "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=15",
	},
	{
		name:  "13.5",
		value: "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=8",
	},
	{
		name:  "13.6",
		value: "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=15",
	},
	{
		name: "13.7",
		value: "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=8, " +
			"permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover, " +
			"permessage-deflate; client_no_context_takeover; client_max_window_bits",
	},
}

func TestNegotiateDeflateAutobahnOffers(t *testing.T) {
	wantContextTakeover := map[string]string{
		"12.* and 13.1": "permessage-deflate; client_no_context_takeover",
		"13.2":          "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
		"13.3":          "permessage-deflate; client_no_context_takeover; server_max_window_bits=8",
		"13.3 newer":    "permessage-deflate; client_no_context_takeover; server_max_window_bits=9",
		"13.4":          "permessage-deflate; client_no_context_takeover; server_max_window_bits=15",
		"13.5":          "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8",
		"13.6":          "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15",
		"13.7":          "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8",
	}
	for _, ao := range autobahnDeflateOffers {
		for _, mode := range []CompressionMode{CompressionNoContextTakeover, CompressionContextTakeover} {
			for _, bits := range []int{0, 8, 12, 15} {
				opts := &CompressionOptions{Mode: mode, MaxWindowBits: bits}
				values := []string{ao.value}
				params, response, ok, err := negotiateDeflate(values, opts)
				if err != nil || !ok {
					t.Errorf("%s, %+v: ok=%v err=%v, want the offer accepted", ao.name, *opts, ok, err)
					continue
				}
				if mode == CompressionContextTakeover && (bits == 0 || bits == 15) && response != wantContextTakeover[ao.name] {
					t.Errorf("%s, %+v: response %q, want %q", ao.name, *opts, response, wantContextTakeover[ao.name])
				}
				// The response must satisfy the client that made the offer.
				offer, _, _, _ := chooseDeflateOffer(values, opts)
				got, used, err := checkDeflateResponse([]string{response}, &offer)
				if err != nil || !used || got != params {
					t.Errorf("%s, %+v: response %q checked against the offer: %+v, %v, %v; want %+v", ao.name, *opts, response, got, used, err, params)
				}
			}
		}
	}
}

func TestDeflateOffer(t *testing.T) {
	tests := []struct {
		name string
		opts *CompressionOptions
		want string
	}{
		{
			name: "nil",
			opts: nil,
			want: "",
		},
		{
			name: "disabled",
			opts: &CompressionOptions{MaxWindowBits: 10},
			want: "",
		},
		{
			name: "context takeover",
			opts: &CompressionOptions{Mode: CompressionContextTakeover},
			want: "permessage-deflate; client_max_window_bits",
		},
		{
			name: "context takeover, 15 bits explicitly",
			opts: &CompressionOptions{Mode: CompressionContextTakeover, MaxWindowBits: 15},
			want: "permessage-deflate; client_max_window_bits",
		},
		{
			name: "no context takeover",
			opts: &CompressionOptions{Mode: CompressionNoContextTakeover},
			want: "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits",
		},
		{
			name: "context takeover, small window",
			opts: &CompressionOptions{Mode: CompressionContextTakeover, MaxWindowBits: 10},
			want: "permessage-deflate; server_max_window_bits=10; client_max_window_bits",
		},
		{
			name: "no context takeover, smallest window asked as 9",
			opts: &CompressionOptions{Mode: CompressionNoContextTakeover, MaxWindowBits: 8},
			want: "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits",
		},
		{
			name: "window clamped",
			opts: &CompressionOptions{Mode: CompressionContextTakeover, MaxWindowBits: -1},
			want: "permessage-deflate; server_max_window_bits=9; client_max_window_bits",
		},
		{
			name: "SendWindowBits as the hint",
			opts: &CompressionOptions{Mode: CompressionContextTakeover, SendWindowBits: 10},
			want: "permessage-deflate; client_max_window_bits=10",
		},
		{
			name: "SendWindowBits 8 hinted as 9",
			opts: &CompressionOptions{Mode: CompressionContextTakeover, SendWindowBits: 8},
			want: "permessage-deflate; client_max_window_bits=9",
		},
		{
			name: "SendWindowBits 15 is no hint",
			opts: &CompressionOptions{Mode: CompressionContextTakeover, SendWindowBits: 15},
			want: "permessage-deflate; client_max_window_bits",
		},
		{
			name: "SendWindowBits above range is no hint",
			opts: &CompressionOptions{Mode: CompressionContextTakeover, SendWindowBits: 16},
			want: "permessage-deflate; client_max_window_bits",
		},
		{
			name: "SendWindowBits below range hinted as 9",
			opts: &CompressionOptions{Mode: CompressionContextTakeover, SendWindowBits: 1},
			want: "permessage-deflate; client_max_window_bits=9",
		},
		{
			name: "SendWindowBits and MaxWindowBits, no context takeover",
			opts: &CompressionOptions{Mode: CompressionNoContextTakeover, SendWindowBits: 12, MaxWindowBits: 10},
			want: "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := deflateOffer(tc.opts); got != tc.want {
				t.Errorf("deflateOffer(%+v) = %q, want %q", tc.opts, got, tc.want)
			}
		})
	}
}

func TestAcceptDeflateResponse(t *testing.T) {
	contextTakeover := &CompressionOptions{Mode: CompressionContextTakeover}
	noContextTakeover := &CompressionOptions{Mode: CompressionNoContextTakeover}
	smallWindow := &CompressionOptions{Mode: CompressionContextTakeover, MaxWindowBits: 10}
	sendWindow := &CompressionOptions{Mode: CompressionContextTakeover, SendWindowBits: 10}
	tests := []struct {
		name       string
		opts       *CompressionOptions
		values     []string
		wantUsed   bool
		wantParams deflateParams
		wantErr    string // substring
	}{
		{
			name:   "no extension",
			opts:   contextTakeover,
			values: nil,
		},
		{
			name:   "empty value",
			opts:   contextTakeover,
			values: []string{""},
		},
		{
			name:   "nothing offered, nothing chosen",
			opts:   nil,
			values: nil,
		},
		{
			name:       "accepted as offered",
			opts:       contextTakeover,
			values:     []string{"permessage-deflate"},
			wantUsed:   true,
			wantParams: deflateDefaults,
		},
		{
			name:       "no context takeover both ways",
			opts:       noContextTakeover,
			values:     []string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
			wantUsed:   true,
			wantParams: deflateParams{serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15},
		},
		{
			name:       "our promise holds without the server repeating it",
			opts:       noContextTakeover,
			values:     []string{"permessage-deflate; server_no_context_takeover"},
			wantUsed:   true,
			wantParams: deflateParams{serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15},
		},
		{
			name:       "server adds parameters of its own",
			opts:       contextTakeover,
			values:     []string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=9"},
			wantUsed:   true,
			wantParams: deflateParams{serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 12, clientMaxWindowBits: 9},
		},
		{
			name:       "server_max_window_bits as requested",
			opts:       smallWindow,
			values:     []string{"permessage-deflate; server_max_window_bits=10"},
			wantUsed:   true,
			wantParams: deflateParams{serverMaxWindowBits: 10, clientMaxWindowBits: 15},
		},
		{
			name:       "server_max_window_bits below the request",
			opts:       smallWindow,
			values:     []string{"permessage-deflate; server_max_window_bits=8"},
			wantUsed:   true,
			wantParams: deflateParams{serverMaxWindowBits: 8, clientMaxWindowBits: 15},
		},
		{
			name:       "quoted values, case and whitespace",
			opts:       contextTakeover,
			values:     []string{` Permessage-Deflate ;CLIENT_MAX_WINDOW_BITS="11"`},
			wantUsed:   true,
			wantParams: deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 11},
		},
		{
			name:       "server announces its window unasked",
			opts:       contextTakeover,
			values:     []string{"permessage-deflate; server_max_window_bits=9"},
			wantUsed:   true,
			wantParams: deflateParams{serverMaxWindowBits: 9, clientMaxWindowBits: 15},
		},
		{
			name:       "SendWindowBits hint holds without the server repeating it",
			opts:       sendWindow,
			values:     []string{"permessage-deflate"},
			wantUsed:   true,
			wantParams: deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 10},
		},
		{
			name:       "SendWindowBits hint taken by the server",
			opts:       sendWindow,
			values:     []string{"permessage-deflate; client_max_window_bits=10"},
			wantUsed:   true,
			wantParams: deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 10},
		},
		{
			name:       "server narrows below the SendWindowBits hint",
			opts:       sendWindow,
			values:     []string{"permessage-deflate; client_max_window_bits=8"},
			wantUsed:   true,
			wantParams: deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 8},
		},
		{
			name:       "SendWindowBits with the server's own window",
			opts:       sendWindow,
			values:     []string{"permessage-deflate; server_max_window_bits=12; client_max_window_bits=9"},
			wantUsed:   true,
			wantParams: deflateParams{serverMaxWindowBits: 12, clientMaxWindowBits: 9},
		},
		{
			name:       "client_max_window_bits above the SendWindowBits hint: the hint holds",
			opts:       sendWindow,
			values:     []string{"permessage-deflate; client_max_window_bits=12"},
			wantUsed:   true,
			wantParams: deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 10},
		},
		{
			name:       "Autobahn 13.4's answer to a hint",
			opts:       &CompressionOptions{Mode: CompressionContextTakeover, SendWindowBits: 8},
			values:     []string{"permessage-deflate; client_max_window_bits=15"},
			wantUsed:   true,
			wantParams: deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 9},
		},
		{
			name:    "SendWindowBits response without a value",
			opts:    sendWindow,
			values:  []string{"permessage-deflate; client_max_window_bits"},
			wantErr: "client_max_window_bits needs a value",
		},
		{
			name:    "SendWindowBits and MaxWindowBits, server window too large",
			opts:    &CompressionOptions{Mode: CompressionContextTakeover, SendWindowBits: 9, MaxWindowBits: 10},
			values:  []string{"permessage-deflate; server_max_window_bits=11; client_max_window_bits=9"},
			wantErr: "server_max_window_bits=11 is larger than the 10 requested",
		},
		{
			name:    "nothing offered",
			opts:    &CompressionOptions{},
			values:  []string{"permessage-deflate"},
			wantErr: `server chose extension "permessage-deflate", which was not offered`,
		},
		{
			name:    "other extension",
			opts:    contextTakeover,
			values:  []string{"x-webkit-deflate-frame"},
			wantErr: `server chose extension "x-webkit-deflate-frame", which was not offered`,
		},
		{
			name:    "two extensions",
			opts:    contextTakeover,
			values:  []string{"permessage-deflate", "x-foo"},
			wantErr: "server chose 2 extensions",
		},
		{
			name:    "permessage-deflate twice",
			opts:    contextTakeover,
			values:  []string{"permessage-deflate, permessage-deflate"},
			wantErr: "server chose 2 extensions",
		},
		{
			name:    "unknown parameter",
			opts:    contextTakeover,
			values:  []string{"permessage-deflate; mem_level=9"},
			wantErr: `unknown parameter "mem_level"`,
		},
		{
			name:    "duplicate parameter",
			opts:    contextTakeover,
			values:  []string{"permessage-deflate; client_no_context_takeover; client_no_context_takeover"},
			wantErr: "duplicate parameter client_no_context_takeover",
		},
		{
			name:    "server_max_window_bits out of range",
			opts:    contextTakeover,
			values:  []string{"permessage-deflate; server_max_window_bits=16"},
			wantErr: `server_max_window_bits="16" is not an integer from 8 to 15`,
		},
		{
			name:    "client_max_window_bits out of range",
			opts:    contextTakeover,
			values:  []string{"permessage-deflate; client_max_window_bits=7"},
			wantErr: `client_max_window_bits="7" is not an integer from 8 to 15`,
		},
		{
			name:    "server_max_window_bits without value",
			opts:    contextTakeover,
			values:  []string{"permessage-deflate; server_max_window_bits"},
			wantErr: "server_max_window_bits needs a value",
		},
		{
			name:    "client_max_window_bits without value",
			opts:    contextTakeover,
			values:  []string{"permessage-deflate; client_max_window_bits"},
			wantErr: "client_max_window_bits needs a value",
		},
		{
			name:    "server_no_context_takeover with a value",
			opts:    noContextTakeover,
			values:  []string{"permessage-deflate; server_no_context_takeover=yes"},
			wantErr: `server_no_context_takeover must not have a value, got "yes"`,
		},
		{
			name:    "server_max_window_bits larger than requested",
			opts:    smallWindow,
			values:  []string{"permessage-deflate; server_max_window_bits=11"},
			wantErr: "server_max_window_bits=11 is larger than the 10 requested",
		},
		{
			name:    "server_max_window_bits request ignored",
			opts:    smallWindow,
			values:  []string{"permessage-deflate"},
			wantErr: "server_max_window_bits=10 was requested but is missing",
		},
		{
			name:    "server_no_context_takeover request ignored",
			opts:    noContextTakeover,
			values:  []string{"permessage-deflate; client_no_context_takeover"},
			wantErr: "server_no_context_takeover was requested but is missing",
		},
		{
			name:    "malformed",
			opts:    contextTakeover,
			values:  []string{"permessage-deflate; server_max_window_bits=1 0"},
			wantErr: errBadExtensionHeader.Error(),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			params, used, err := acceptDeflateResponse(tc.values, tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("acceptDeflateResponse(%q) error = %v, want it to contain %q", tc.values, err, tc.wantErr)
				}
				if used {
					t.Errorf("used = true with an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("acceptDeflateResponse(%q): %v", tc.values, err)
			}
			if used != tc.wantUsed || params != tc.wantParams {
				t.Errorf("acceptDeflateResponse(%q) = %+v, %v; want %+v, %v", tc.values, params, used, tc.wantParams, tc.wantUsed)
			}
		})
	}
}

// TestCheckDeflateResponseOffers covers the checks that depend on offers
// deflateOffer never makes.
func TestCheckDeflateResponseOffers(t *testing.T) {
	tests := []struct {
		name    string
		offer   deflateSettings
		values  []string
		wantErr string // substring; "" for success
	}{
		{
			name:    "client_max_window_bits not offered",
			offer:   deflateSettings{},
			values:  []string{"permessage-deflate; client_max_window_bits=15"},
			wantErr: "client_max_window_bits=15 was not offered",
		},
		{
			name:   "client_max_window_bits above the offered value: our value holds",
			offer:  deflateSettings{clientMaxWindowBits: 10},
			values: []string{"permessage-deflate; client_max_window_bits=11"},
		},
		{
			name:   "client_max_window_bits at the offered value",
			offer:  deflateSettings{clientMaxWindowBits: 10},
			values: []string{"permessage-deflate; client_max_window_bits=10"},
		},
		{
			name:   "client_max_window_bits omitted",
			offer:  deflateSettings{clientMaxWindowBits: 10},
			values: []string{"permessage-deflate"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, used, err := checkDeflateResponse(tc.values, &tc.offer)
			if tc.wantErr == "" {
				if err != nil || !used {
					t.Fatalf("checkDeflateResponse(%q) = %v, %v; want success", tc.values, used, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("checkDeflateResponse(%q) error = %v, want it to contain %q", tc.values, err, tc.wantErr)
			}
		})
	}
}

// TestDeflateRoundTrip checks every pair of client and server options: our
// server accepts our client's offer, our client accepts the answer, and
// both ends agree on the parameters in force.
func TestDeflateRoundTrip(t *testing.T) {
	modes := []CompressionMode{CompressionNoContextTakeover, CompressionContextTakeover}
	for _, cm := range modes {
		for cb := 7; cb <= 16; cb++ {
			for _, sm := range modes {
				for sb := 7; sb <= 16; sb++ {
					copts := &CompressionOptions{Mode: cm, MaxWindowBits: cb}
					sopts := &CompressionOptions{Mode: sm, MaxWindowBits: sb}
					checkDeflateRoundTrip(t, copts, sopts)
				}
			}
		}
	}
}

// TestDeflateRoundTripSendWindow checks SendWindowBits on either side or
// both, with and without MaxWindowBits, the same way.
func TestDeflateRoundTripSendWindow(t *testing.T) {
	modes := []CompressionMode{CompressionNoContextTakeover, CompressionContextTakeover}
	sends := []int{0, 7, 8, 9, 10, 12, 15, 16}
	limits := []int{0, 8, 10, 15}
	for _, mode := range modes {
		for _, cs := range sends {
			for _, cb := range limits {
				for _, ss := range sends {
					for _, sb := range limits {
						copts := &CompressionOptions{Mode: mode, SendWindowBits: cs, MaxWindowBits: cb}
						sopts := &CompressionOptions{Mode: mode, SendWindowBits: ss, MaxWindowBits: sb}
						checkDeflateRoundTrip(t, copts, sopts)
					}
				}
			}
		}
	}
}

func checkDeflateRoundTrip(t *testing.T, copts, sopts *CompressionOptions) {
	t.Helper()
	offer := deflateOffer(copts)
	sparams, response, ok, err := negotiateDeflate([]string{offer}, sopts)
	if err != nil || !ok {
		t.Fatalf("client %+v, server %+v: offer %q not accepted: ok=%v err=%v", *copts, *sopts, offer, ok, err)
	}
	cparams, used, err := acceptDeflateResponse([]string{response}, copts)
	if err != nil || !used {
		t.Fatalf("client %+v, server %+v: response %q to %q not accepted: used=%v err=%v", *copts, *sopts, response, offer, used, err)
	}
	if cparams != sparams {
		t.Fatalf("client %+v, server %+v: offer %q, response %q: client has %+v, server has %+v", *copts, *sopts, offer, response, cparams, sparams)
	}
	// Each side's limit on what it receives holds, 8 being allowed as 9
	// (announcedWindow).
	if cparams.serverMaxWindowBits > announcedWindow(deflateWindowLimit(copts)) || sparams.clientMaxWindowBits > announcedWindow(deflateWindowLimit(sopts)) {
		t.Fatalf("client %+v, server %+v: window limits broken: %+v", *copts, *sopts, sparams)
	}
	// What each side announces of its own window is no larger than its
	// SendWindowBits (9 for 8).
	if sparams.serverMaxWindowBits > announcedWindow(deflateSendWindow(sopts)) || sparams.clientMaxWindowBits > announcedWindow(deflateSendWindow(copts)) {
		t.Fatalf("client %+v, server %+v: windows above SendWindowBits: %+v", *copts, *sopts, sparams)
	}
	// No context takeover, once asked for by either side, holds both ways.
	noTakeover := copts.Mode == CompressionNoContextTakeover || sopts.Mode == CompressionNoContextTakeover
	if noTakeover != (sparams.serverNoContextTakeover && sparams.clientNoContextTakeover) {
		t.Fatalf("client %+v, server %+v: takeover %+v", *copts, *sopts, sparams)
	}
}

func TestNegotiateDeflateAllocs(t *testing.T) {
	opts := &CompressionOptions{Mode: CompressionContextTakeover, MaxWindowBits: 12}
	values := []string{"permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate"}
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, ok, err := negotiateDeflate(values, opts); !ok || err != nil {
			t.Fatal("not negotiated")
		}
	})
	if allocs > 1 { // the response string
		t.Errorf("negotiateDeflate made %v allocations, want at most 1", allocs)
	}
}

// FuzzParseExtensions checks that the parser never panics, that what it
// returns is well-formed, and that writing the result back out and parsing
// it again gives the same result.
func FuzzParseExtensions(f *testing.F) {
	for _, ao := range autobahnDeflateOffers {
		f.Add(ao.value)
	}
	f.Add(`permessage-deflate; client_max_window_bits="10", x-foo; a=b; c`)
	f.Add(" ,\tPermessage-Deflate ;\tServer_No_Context_Takeover , ")
	f.Add(`a; b="\1\0"`)
	f.Add(`a; b="1`)
	f.Fuzz(func(t *testing.T, s string) {
		offers, err := parseExtensions([]string{s})
		if err != nil {
			if !errors.Is(err, errBadExtensionHeader) || offers != nil {
				t.Fatalf("parseExtensions(%q) = %+v, %v", s, offers, err)
			}
			return
		}
		var b strings.Builder
		for i, o := range offers {
			if !isLowerExtToken(o.name) {
				t.Fatalf("parseExtensions(%q): extension name %q", s, o.name)
			}
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(o.name)
			for _, p := range o.params {
				if !isLowerExtToken(p.name) || p.hasValue && !isExtToken(p.value) || !p.hasValue && p.value != "" {
					t.Fatalf("parseExtensions(%q): parameter %+v", s, p)
				}
				b.WriteString("; " + p.name)
				if p.hasValue {
					b.WriteString("=" + p.value)
				}
			}
		}
		again, err := parseExtensions([]string{b.String()})
		if err != nil || !reflect.DeepEqual(again, offers) {
			t.Fatalf("parseExtensions(%q) = %+v, but its rewriting %q parses as %+v, %v", s, offers, b.String(), again, err)
		}
	})
}

func isExtToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return false
		}
	}
	return s != ""
}

func isLowerExtToken(s string) bool { return isExtToken(s) && strings.ToLower(s) == s }

// FuzzNegotiate checks the negotiation both ways: our server never panics
// on a client header, and whatever it answers satisfies the client that
// made the offer it chose; our client never panics on a server header and
// only accepts answers within its offer; and our own offer, for any
// options, is accepted by our server and both ends agree on the result.
func FuzzNegotiate(f *testing.F) {
	for _, ao := range autobahnDeflateOffers {
		f.Add(ao.value, uint8(1), int8(0), uint8(2), int8(0))
	}
	f.Add("permessage-deflate; client_max_window_bits", uint8(2), int8(10), uint8(1), int8(9))
	f.Add("permessage-deflate; server_max_window_bits=10", uint8(1), int8(8), uint8(2), int8(10))
	f.Add("permessage-deflate; server_no_context_takeover; client_max_window_bits=9", uint8(2), int8(12), uint8(1), int8(15))
	f.Add("x-foo, permessage-deflate; server_max_window_bits, permessage-deflate", uint8(0), int8(-3), uint8(3), int8(99))
	f.Add("permessage-deflate; client_max_window_bits=9", uint8(2|10<<2), int8(12), uint8(2|8<<2), int8(0))
	f.Add("permessage-deflate; server_max_window_bits=12; client_max_window_bits=10", uint8(1|9<<2), int8(0), uint8(2|10<<2), int8(11))
	f.Fuzz(func(t *testing.T, header string, serverMode uint8, serverBits int8, clientMode uint8, clientBits int8) {
		// The modes' upper bits are SendWindowBits, 0 to 16, so that the
		// seed corpus keeps its meaning.
		sopts := &CompressionOptions{Mode: CompressionMode(serverMode % 4), MaxWindowBits: int(serverBits), SendWindowBits: int(serverMode>>2) % 17}
		copts := &CompressionOptions{Mode: CompressionMode(clientMode % 4), MaxWindowBits: int(clientBits), SendWindowBits: int(clientMode>>2) % 17}
		values := []string{header}

		// Server side on an arbitrary client header.
		params, response, ok, err := negotiateDeflate(values, sopts)
		if err != nil && !errors.Is(err, errBadExtensionHeader) {
			t.Fatalf("negotiateDeflate(%q): unexpected error %v", header, err)
		}
		if ok {
			if err != nil || !deflateEnabled(sopts) {
				t.Fatalf("negotiateDeflate(%q, %+v) = ok with err %v", header, *sopts, err)
			}
			checkDeflateParamsRange(t, params)
			// 8 is allowed as 9 (announcedWindow).
			if params.clientMaxWindowBits > announcedWindow(deflateWindowLimit(sopts)) {
				t.Fatalf("negotiateDeflate(%q, %+v): client window %d above our limit", header, *sopts, params.clientMaxWindowBits)
			}
			if params.serverMaxWindowBits > announcedWindow(deflateSendWindow(sopts)) {
				t.Fatalf("negotiateDeflate(%q, %+v): server window %d above SendWindowBits", header, *sopts, params.serverMaxWindowBits)
			}
			offer, _, _, _ := chooseDeflateOffer(values, sopts)
			cparams, used, err := checkDeflateResponse([]string{response}, &offer)
			if err != nil || !used || cparams != params {
				t.Fatalf("negotiateDeflate(%q, %+v) answered %q (%+v), which the offer %+v does not accept: %+v, %v, %v",
					header, *sopts, response, params, offer, cparams, used, err)
			}
		}

		// Client side on an arbitrary server header.
		cparams, used, err := acceptDeflateResponse(values, copts)
		if used {
			if err != nil || !deflateEnabled(copts) {
				t.Fatalf("acceptDeflateResponse(%q, %+v) = used with err %v", header, *copts, err)
			}
			checkDeflateParamsRange(t, cparams)
			if cparams.serverMaxWindowBits > announcedWindow(deflateWindowLimit(copts)) {
				t.Fatalf("acceptDeflateResponse(%q, %+v): server window %d above our limit", header, *copts, cparams.serverMaxWindowBits)
			}
			if copts.Mode == CompressionNoContextTakeover && !(cparams.serverNoContextTakeover && cparams.clientNoContextTakeover) {
				t.Fatalf("acceptDeflateResponse(%q, %+v): context takeover allowed: %+v", header, *copts, cparams)
			}
		}

		// Our own offer against our own server.
		if deflateEnabled(copts) && deflateEnabled(sopts) {
			checkDeflateRoundTrip(t, copts, sopts)
		}
	})
}

func checkDeflateParamsRange(t *testing.T, p deflateParams) {
	t.Helper()
	if p.serverMaxWindowBits < 8 || p.serverMaxWindowBits > 15 || p.clientMaxWindowBits < 8 || p.clientMaxWindowBits > 15 {
		t.Fatalf("window bits out of range: %+v", p)
	}
}
