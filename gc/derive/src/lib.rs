//! `#[derive(Trace)]` for gort's managed types.
//!
//! The derive writes `unsafe impl Trace` for a struct or enum whose fields
//! are all `Trace`: `NEEDS_TRACE` is the OR of the fields', and `trace`
//! calls `trace` on every field. It also makes a type with its own `Drop`
//! impl fail to compile (managed objects are freed without destructors).
//!
//! # The path it emits
//!
//! Generated code names the trait as `::gort::Trace` and `::gort::Tracer`,
//! because programs depend on the `gort` facade crate, which re-exports
//! both (and this derive) from `gort-gc`. Code that depends on `gort-gc`
//! directly either adds `extern crate gort_gc as gort;` at its crate root
//! (gort-gc's own tests do) or writes `#[gc(crate = "gort_gc")]` on the type.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote};
use syn::{parse_macro_input, Data, DeriveInput, Fields};

/// Derives `Trace`; see the crate docs for the path of the trait it names.
#[proc_macro_derive(Trace, attributes(gc))]
pub fn derive_trace(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn crate_path(input: &DeriveInput) -> syn::Result<syn::Path> {
    let mut path: syn::Path = syn::parse_quote!(::gort);
    for attr in &input.attrs {
        if attr.path().is_ident("gc") {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("crate") {
                    let s: syn::LitStr = meta.value()?.parse()?;
                    path = s.parse()?;
                    Ok(())
                } else {
                    Err(meta.error("unknown gc attribute; expected `crate = \"...\"`"))
                }
            })?;
        }
    }
    Ok(path)
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let krate = crate_path(input)?;
    let name = &input.ident;
    let mut generics = input.generics.clone();
    for p in generics.type_params_mut() {
        p.bounds.push(syn::parse_quote!(#krate::Trace));
    }
    let (impl_g, ty_g, where_c) = generics.split_for_impl();

    let mut field_types = Vec::new();
    let body = match &input.data {
        Data::Struct(s) => {
            let (pat, calls) = destructure(&s.fields, &mut field_types, &krate);
            quote! { let #name #pat = self; #(#calls)* }
        }
        Data::Enum(e) if e.variants.is_empty() => quote! { match *self {} },
        Data::Enum(e) => {
            let arms = e.variants.iter().map(|v| {
                let vn = &v.ident;
                let (pat, calls) = destructure(&v.fields, &mut field_types, &krate);
                quote! { #name::#vn #pat => { #(#calls)* } }
            });
            quote! { match self { #(#arms)* } }
        }
        Data::Union(u) => {
            return Err(syn::Error::new_spanned(
                u.union_token,
                "#[derive(Trace)] does not support unions: the collector cannot know which field is live",
            ))
        }
    };
    let needs = if field_types.is_empty() {
        quote!(false)
    } else {
        quote!(false #(|| <#field_types as #krate::Trace>::NEEDS_TRACE)*)
    };
    let no_drop = format_ident!("__GortMustNotImplDrop{}", name);
    Ok(quote! {
        // SAFETY: every field is traced (derive), and the check below makes
        // a Drop impl on this type a compile error.
        unsafe impl #impl_g #krate::Trace for #name #ty_g #where_c {
            const NEEDS_TRACE: bool = #needs;
            #[inline]
            #[allow(unused_variables)]
            fn trace(&self, tracer: &mut #krate::Tracer<'_>) {
                #body
            }
        }
        // Managed types must not implement Drop: if this type does, the two
        // impls below conflict ("conflicting implementations of trait").
        #[allow(non_camel_case_types, drop_bounds, dead_code)]
        trait #no_drop {}
        #[allow(drop_bounds)]
        impl<T: ::core::ops::Drop + ?Sized> #no_drop for T {}
        impl #impl_g #no_drop for #name #ty_g #where_c {}
    })
}

fn destructure(
    fields: &Fields,
    types: &mut Vec<syn::Type>,
    krate: &syn::Path,
) -> (TokenStream2, Vec<TokenStream2>) {
    match fields {
        Fields::Named(n) => {
            let names: Vec<_> = n.named.iter().map(|f| f.ident.clone().unwrap()).collect();
            types.extend(n.named.iter().map(|f| f.ty.clone()));
            let calls = names
                .iter()
                .map(|f| quote! { #krate::Trace::trace(#f, tracer); })
                .collect();
            (quote!({ #(#names),* }), calls)
        }
        Fields::Unnamed(u) => {
            let names: Vec<_> = (0..u.unnamed.len())
                .map(|i| format_ident!("f{}", i))
                .collect();
            types.extend(u.unnamed.iter().map(|f| f.ty.clone()));
            let calls = names
                .iter()
                .map(|f| quote! { #krate::Trace::trace(#f, tracer); })
                .collect();
            (quote!(( #(#names),* )), calls)
        }
        Fields::Unit => (quote!(), Vec::new()),
    }
}
